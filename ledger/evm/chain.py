"""A web3 connection to one EVM chain: a JSON-RPC node from config, or an in-process eth-tester chain.

Every call blocks. The asyncio node calls these through ``asyncio.to_thread``; `TxSender` (sender.py)
is safe to use from several threads at once.
"""

from __future__ import annotations

import functools
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import requests
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, Web3
from web3.exceptions import TimeExhausted, TransactionNotFound, Web3Exception
from web3.types import RPCEndpoint, RPCResponse, TxReceipt

from djmesh.ledger.evm.errors import ChainMismatchError, ChainUnreachableError, TransactionFailedError

if TYPE_CHECKING:
    from eth_tester import EthereumTester  # type: ignore[import-untyped]


class _LockedTesterProvider(EthereumTesterProvider):
    """eth-tester is not meant for concurrent callers: serialize its requests."""

    def __init__(self, tester: EthereumTester) -> None:
        super().__init__(tester)
        self._lock = threading.RLock()

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            return super().make_request(method, params)


class EvmChain:
    """One chain: chain ID (checked on connect), confirmations to wait, and receipt polling."""

    def __init__(
        self,
        w3: Web3,
        *,
        confirmations: int = 1,
        tx_timeout_s: float = 120.0,
        poll_s: float = 0.1,
        tester: EthereumTester | None = None,
        dev_keys: tuple[bytes, ...] = (),
        label: str = "",
    ) -> None:
        if confirmations < 1:
            raise ValueError("confirmations must be at least 1")
        self.w3 = w3
        self.confirmations = confirmations
        self.tx_timeout_s = tx_timeout_s
        self.poll_s = poll_s
        self.tester = tester
        self.dev_keys = dev_keys
        self.label = label
        self._chain_id: int | None = None

    @classmethod
    def connect(
        cls,
        rpc_url: str,
        *,
        chain_id: int | None = None,
        confirmations: int = 1,
        tx_timeout_s: float = 120.0,
        request_timeout_s: float = 10.0,
    ) -> EvmChain:
        """Connect to a JSON-RPC node; refuses if it is unreachable or serves another chain ID."""
        if not rpc_url.startswith(("http://", "https://")):
            raise ChainUnreachableError(f"RPC URL must start with http:// or https://, got {rpc_url!r}")
        w3 = Web3(Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": request_timeout_s}))
        chain = cls(w3, confirmations=confirmations, tx_timeout_s=tx_timeout_s, poll_s=0.2, label=rpc_url)
        try:
            actual = w3.eth.chain_id
        except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise ChainUnreachableError(f"no EVM JSON-RPC node answers at {rpc_url} ({_short(exc)})") from exc
        if chain_id is not None and actual != chain_id:
            raise ChainMismatchError(f"{rpc_url} serves chain ID {actual}, but the config says {chain_id}")
        chain._chain_id = actual
        return chain

    @classmethod
    def in_process(cls, *, confirmations: int = 1) -> EvmChain:
        """A fresh py-evm chain in this process (eth-tester) with ten funded dev accounts."""
        from eth_tester import EthereumTester

        backend = pyevm_backend()
        tester = EthereumTester(backend)
        keys = tuple(k.to_bytes() for k in backend.account_keys)
        w3 = Web3(_LockedTesterProvider(tester))
        # A call that names no sender is sent from the first dev account. web3's eth-tester middleware
        # would ask the chain for its account list twice per call to find that one: a third of the cost of
        # the escrow service's chain reads. Named here, the call goes as it is.
        w3.eth.default_account = w3.eth.accounts[0]
        return cls(
            w3, confirmations=confirmations, poll_s=0.01, tester=tester, dev_keys=keys, label="eth-tester"
        )

    @property
    def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = self.w3.eth.chain_id
        return self._chain_id

    def balance(self, address: str) -> int:
        return int(self.w3.eth.get_balance(Web3.to_checksum_address(address)))

    def timestamp(self) -> int:
        """The latest block's timestamp: the clock the contracts' deadlines are measured by."""
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def wait(self, tx_hash: bytes) -> TxReceipt:
        """The receipt once the transaction has ``confirmations`` blocks; raises if it reverted."""
        deadline = time.monotonic() + self.tx_timeout_s
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=self.tx_timeout_s, poll_latency=self.poll_s
            )
        except TimeExhausted as exc:
            raise TransactionFailedError(
                f"transaction 0x{tx_hash.hex()} not mined within {self.tx_timeout_s:g} s"
            ) from exc
        if receipt["status"] != 1:
            raise TransactionFailedError(f"transaction 0x{tx_hash.hex()} reverted on chain")
        target = receipt["blockNumber"] + self.confirmations - 1
        while self.w3.eth.block_number < target:
            if time.monotonic() > deadline:
                raise TransactionFailedError(
                    f"transaction 0x{tx_hash.hex()} has fewer than {self.confirmations} confirmations "
                    f"after {self.tx_timeout_s:g} s"
                )
            time.sleep(self.poll_s)
        try:  # a reorg may have dropped it while we waited
            final = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound as exc:
            raise TransactionFailedError(
                f"transaction 0x{tx_hash.hex()} vanished (chain reorganised)"
            ) from exc
        return final

    # ---- dev chains only -------------------------------------------------------------------------

    def advance_time(self, seconds: int) -> None:
        """Move the chain's clock forward and mine a block (eth-tester, anvil and the py-evm devnet)."""
        if self.tester is not None:
            self.tester.time_travel(self.timestamp() + seconds)
            return
        self.w3.provider.make_request(RPCEndpoint("evm_increaseTime"), [seconds])
        self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])

    def mine(self, blocks: int = 1) -> None:
        if self.tester is not None:
            self.tester.mine_blocks(blocks)
            return
        for _ in range(blocks):
            self.w3.provider.make_request(RPCEndpoint("evm_mine"), [])


def pyevm_backend() -> Any:
    """A fresh py-evm backend (ten funded dev accounts) that estimates gas in one execution and answers a
    pairing check it has made before from memory."""
    from eth_tester import PyEVMBackend

    backend = PyEVMBackend()
    backend.chain.gas_estimator = _estimate_in_one_execution
    _remember_pairings()
    return backend


PAIRINGS_REMEMBERED = 64


def _remember_pairings() -> None:
    """py-evm's ecPairing precompile (what a Groth16 verifier calls) is pure Python, about 1 s a check. A
    relayer checks a vote with eth_call before sending it, and a caller checks a transaction before it
    mines it: the same input twice. The result depends on the input alone, so the last
    ``PAIRINGS_REMEMBERED`` answers are kept (for the process, like py-evm's precompile table; an input it
    refuses raises every time)."""
    import eth.precompiles  # noqa: F401  (loads the submodule the precompile table calls into)

    module: Any = sys.modules["eth.precompiles.ecpairing"]
    if getattr(module._ecpairing, "djmesh_remembered", False):
        return
    check = functools.lru_cache(maxsize=PAIRINGS_REMEMBERED)(module._ecpairing)

    def remembered(data: bytes | memoryview) -> bool:
        return bool(check(bytes(data)))

    remembered.djmesh_remembered = True  # type: ignore[attr-defined]
    module._ecpairing = remembered


def _estimate_in_one_execution(state: Any, transaction: Any) -> int:
    """Gas estimate from one execution at the block gas limit: intrinsic gas plus the gas it used.

    py-evm's default binary search runs a transaction about a dozen times; for a vote that verifies a
    Groth16 proof in pure Python that is ~7 s per estimate, where anvil or geth answer in milliseconds.
    One run gives the figure the search converges to (gas used before refunds); `TxSender` adds its
    headroom on top. A failing execution raises its error, so reverts still surface with their reason.
    """
    from eth.vm.spoof import SpoofTransaction

    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0))
        if computation.is_error:
            raise computation.error
        return int(transaction.intrinsic_gas + computation.get_gas_used())
    finally:
        state.revert(snapshot)


def _short(exc: BaseException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError):
        return "connection refused or host unreachable"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if len(text) < 160 else text[:157] + "..."
