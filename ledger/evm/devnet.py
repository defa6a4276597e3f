"""A local EVM dev chain with funded accounts and the djmesh contracts deployed.

anvil (from the checkout's node_modules/.bin, else PATH) when it is there; otherwise a py-evm chain
behind djmesh's small JSON-RPC server (rpc_server.py). Both listen on 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_tester import EthereumTester  # type: ignore[import-untyped]
from eth_utils.address import to_checksum_address

from djmesh.ledger.evm.chain import EvmChain, pyevm_backend
from djmesh.ledger.evm.config import LedgerConfig
from djmesh.ledger.evm.deploy import Deployment, deploy_contracts
from djmesh.ledger.evm.errors import ChainUnreachableError, LedgerError
from djmesh.ledger.evm.rpc_server import PyEvmRpc, serve
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.toolchain import find_anvil
from djmesh.ledger.zk.gate import deploy_gate

BACKENDS = ("auto", "anvil", "py-evm")
START_TIMEOUT_S = 30.0
# Probing for a chain that is still starting: a short request timeout so a retry comes soon.
PROBE_TIMEOUT_S = 2.0
# Once it answers, requests may take long: py-evm executes contracts in pure Python, and on a busy
# machine one deployment or proof check can take many seconds. A local chain that is slow is not dead.
REQUEST_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class DevAccount:
    address: str
    private_key: str  # 0x-hex; dev chains only


@dataclass(frozen=True)
class Devnet:
    rpc_url: str
    chain_id: int
    backend: str
    accounts: tuple[DevAccount, ...]
    contracts: Deployment
    listen_gate: str
    funded: tuple[str, ...]

    def ledger_config(self) -> LedgerConfig:
        return LedgerConfig(
            rpc_url=self.rpc_url,
            chain_id=self.chain_id,
            confirmations=1,
            escrow=self.contracts.escrow,
            listen_channel=self.contracts.listen_channel,
            listen_gate=self.listen_gate,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "rpc_url": self.rpc_url,
            "chain_id": self.chain_id,
            "backend": self.backend,
            "accounts": [{"address": a.address, "private_key": a.private_key} for a in self.accounts],
            "contracts": {**self.contracts.as_json(), "ListenGate": self.listen_gate},
            "funded": list(self.funded),
        }


def _die_with_parent() -> None:
    # Linux: anvil gets SIGTERM if the devnet process dies without cleaning up.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _wait_ready(url: str, process: subprocess.Popen[bytes] | None) -> EvmChain:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process is not None and process.poll() is not None:
            err = (process.stderr.read() if process.stderr else b"").decode(errors="replace").strip()
            raise LedgerError(
                f"anvil exited ({process.returncode}): {err.splitlines()[-1] if err else 'no output'}"
            )
        try:
            EvmChain.connect(url, request_timeout_s=PROBE_TIMEOUT_S)
        except ChainUnreachableError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        else:
            return EvmChain.connect(url, request_timeout_s=REQUEST_TIMEOUT_S, tx_timeout_s=REQUEST_TIMEOUT_S)


def _check_port_free(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise LedgerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc


@contextlib.contextmanager
def _anvil(anvil: Path, port: int) -> Iterator[tuple[EvmChain, list[DevAccount]]]:
    with tempfile.TemporaryDirectory(prefix="djmesh-devnet-") as tmp:
        config_out = Path(tmp) / "anvil.json"
        command = [str(anvil), "--host", "127.0.0.1", "--port", str(port), "--config-out", str(config_out)]
        process = subprocess.Popen(
            [*command, "--silent"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        try:
            chain = _wait_ready(f"http://127.0.0.1:{port}", process)
            data = json.loads(config_out.read_text(encoding="utf-8"))
            accounts = [
                DevAccount(to_checksum_address(a), k)
                for a, k in zip(data["available_accounts"], data["private_keys"], strict=True)
            ]
            yield chain, accounts
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextlib.contextmanager
def _pyevm(port: int) -> Iterator[tuple[EvmChain, list[DevAccount]]]:
    backend = pyevm_backend()
    tester = EthereumTester(backend)
    try:
        server = serve(PyEvmRpc(tester), port)
    except OSError as exc:
        raise LedgerError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    try:
        chain = _wait_ready(f"http://127.0.0.1:{port}", None)
        accounts = [
            DevAccount(Account.from_key(k.to_bytes()).address, "0x" + k.to_bytes().hex())
            for k in backend.account_keys
        ]
        yield chain, accounts
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def run_devnet(
    port: int, *, backend: str = "auto", fund: Sequence[str] = (), fund_wei: int = 100 * 10**18
) -> Iterator[Devnet]:
    """Start the chain, deploy the contracts, fund ``fund``; stops the chain on exit."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}")
    _check_port_free(port)
    anvil = find_anvil() if backend in ("auto", "anvil") else None
    if backend == "anvil" and anvil is None:
        raise LedgerError("anvil is not installed (run scripts/setup, or use --backend py-evm)")
    starter = _anvil(anvil, port) if anvil is not None else _pyevm(port)
    with starter as (chain, accounts):
        deployer = TxSender(chain, Account.from_key(accounts[0].private_key))
        contracts = deploy_contracts(deployer)
        listen_gate = deploy_gate(
            deployer, escrow=contracts.escrow
        )  # trusting the TEST-ONLY proving key (ledger/zk/README.md)
        funded = []
        for address in dict.fromkeys(to_checksum_address(a) for a in fund):
            deployer.transact(to=address, value=fund_wei)
            funded.append(address)
        yield Devnet(
            rpc_url=f"http://127.0.0.1:{port}",
            chain_id=chain.chain_id,
            backend="anvil" if anvil is not None else "py-evm",
            accounts=tuple(accounts),
            contracts=contracts,
            listen_gate=listen_gate,
            funded=tuple(funded),
        )
