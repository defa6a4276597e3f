"""`djmesh wallet` and `djmesh devnet` as a user runs them, against a devnet in a subprocess."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from djmesh.ledger.evm import (
    Escrow,
    EvmChain,
    ListenChannels,
    TxSender,
    load_account,
    sign_result,
    sign_voucher,
)
from djmesh.ledger.toolchain import find_anvil
from tests.helpers.cli import CliResult, CliRunner
from tests.helpers.devnet import devnet, free_port

PASSPHRASE = "devnet wallet"


def _configure(home: Path, net: dict[str, Any]) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(
        "[ledger]\n"
        f'rpc_url = "{net["rpc_url"]}"\nchain_id = {net["chain_id"]}\nconfirmations = 1\n'
        f'escrow = "{net["contracts"]["BattleEscrow"]}"\nlisten_channel = "{net["contracts"]["ListenChannel"]}"\n',
        encoding="utf-8",
    )


def _ok(result: Any) -> Any:
    assert result.returncode == 0, result.stderr
    return result.json()


@pytest.mark.skipif(find_anvil() is None, reason="anvil is not installed (scripts/setup installs it)")
def test_listener_and_dj_through_a_devnet(
    ledger_cli: CliRunner, djmesh_main: Callable[..., CliResult], tmp_path: Path
) -> None:
    listener_home, dj_home = tmp_path / "listener", tmp_path / "dj"
    secret = tmp_path / "passphrase"
    secret.write_text(PASSPHRASE + "\n")
    lh, dh, pf = ("--home", str(listener_home)), ("--home", str(dj_home)), ("--passphrase-file", str(secret))
    ledger_cli.env["DJMESH_PASSPHRASE"] = PASSPHRASE
    listener = _ok(ledger_cli(*lh, "wallet", "address", "--json"))  # the installed command, once
    assert listener["created"] is True
    dj = _ok(djmesh_main(*dh, "wallet", "address", "--json", *pf))
    assert _ok(djmesh_main(*dh, "wallet", "address", "--json"))["created"] is False
    with devnet(ledger_cli, listener_home, "--fund", dj["address"]) as net:
        assert net["backend"] == "anvil" and net["chain_id"] == 31337
        assert sorted(net["funded"]) == sorted([listener["address"], dj["address"]])
        for home in (listener_home, dj_home):
            _configure(home, net)
        balance = _ok(djmesh_main(*lh, "wallet", "balance", "--json"))
        assert balance == {
            "address": listener["address"], "chain_id": 31337, "balance_wei": str(100 * 10**18),
            "in_channels_wei": "0", "withdrawable_wei": "0",
        }  # fmt: skip
        opened = _ok(
            djmesh_main(*lh, "wallet", "deposit", "--to", dj["address"], "--amount", "1.5", "--json", *pf)
        )
        assert opened["deposit_wei"] == str(15 * 10**17) and opened["payee"] == dj["address"]
        channel = opened["channel"]
        short = _ok(djmesh_main(*lh, "wallet", "deposit", "--to", dj["address"], "--amount", "0.5",
                                "--timeout", "60", "--json", *pf))  # fmt: skip
        _ok(
            djmesh_main(*lh, "wallet", "deposit", "--channel", str(channel), "--amount", "0.5", "--json", *pf)
        )
        rows = _ok(djmesh_main(*dh, "wallet", "channels", "--json"))
        assert [(r["channel"], r["role"], r["counterparty"], r["state"]) for r in rows] == [
            (channel, "payee", listener["address"], "open"), (short["channel"], "payee", listener["address"], "open"),
        ]  # fmt: skip
        assert rows[0]["deposit_wei"] == str(2 * 10**18)

        # The listener's node pays by voucher; the DJ's node closes with the latest one (web3 over RPC).
        chain = EvmChain.connect(net["rpc_url"], chain_id=31337)
        listener_key = bytes(
            load_account(listener_home / "wallet" / "keystore.json", PASSPHRASE.encode()).key
        )
        dj_account = load_account(dj_home / "wallet" / "keystore.json", PASSPHRASE.encode())
        channels = ListenChannels(chain, net["contracts"]["ListenChannel"], TxSender(chain, dj_account))
        vouchers = [sign_voucher(listener_key, channels.domain, channel, a) for a in (10**17, 3 * 10**17)]
        channels.close(vouchers[-1])
        rows = _ok(djmesh_main(*lh, "wallet", "channels", "--json"))
        assert (rows[0]["state"], rows[0]["paid_wei"]) == ("closed", str(3 * 10**17))
        text = djmesh_main(*lh, "wallet", "channels").stdout
        assert f"#{channel}" in text and "paid 0.3 ETH of 2 ETH  closed" in text

        # A battle prize over the same RPC: the listener is DJ A here, a one-member committee attests.
        listener_account = load_account(listener_home / "wallet" / "keystore.json", PASSPHRASE.encode())
        escrow_a = Escrow(chain, net["contracts"]["BattleEscrow"], TxSender(chain, listener_account))
        escrow_b = Escrow(chain, net["contracts"]["BattleEscrow"], TxSender(chain, dj_account))
        member = hashlib.sha256(b"member").digest()
        won, lapsed = hashlib.sha256(b"won").digest(), hashlib.sha256(b"lapsed").digest()
        escrow_a.open(won, dj["address"], chain.timestamp() + 600, stake=10**18)
        escrow_b.stake(won, 10**18)
        for escrow in (escrow_a, escrow_b):
            escrow.agree_committee(won, [Account.from_key(member).address])
        result_hash = hashlib.sha256(b"bundle").digest()
        attestation = sign_result(member, escrow_b.domain, won, listener["address"], result_hash)
        before = chain.balance(listener["address"])
        escrow_b.payout(won, listener["address"], result_hash, [attestation.signer], [attestation])
        assert chain.balance(listener["address"]) == before + 2 * 10**18
        escrow_a.open(lapsed, dj["address"], chain.timestamp() + 60, stake=25 * 10**16)  # no result will come

        chain.advance_time(120)  # the 60-second channel and the lapsed battle expire
        balance = _ok(djmesh_main(*lh, "wallet", "balance", "--json"))
        assert balance["withdrawable_wei"] == str(75 * 10**16) and balance["in_channels_wei"] == "0"
        withdrawn = _ok(djmesh_main(*lh, "wallet", "withdraw", "--json", *pf))
        assert withdrawn["withdrawn_wei"] == str(75 * 10**16)
        assert [(t["kind"], t["amount_wei"]) for t in withdrawn["transactions"]] == [
            ("channel", str(5 * 10**17)), ("refund", str(25 * 10**16)),
        ]  # fmt: skip
        again = djmesh_main(*lh, "wallet", "withdraw", *pf)
        assert (again.returncode, again.stdout) == (0, "nothing to withdraw\n")


def test_wrong_arguments_are_one_line_errors(djmesh_main: Callable[..., CliResult], tmp_path: Path) -> None:
    h = ("--home", str(tmp_path / "node"))
    for args, message in (
        (("wallet", "spend"), "unknown wallet action 'spend'"),
        (("wallet", "deposit", "--to", "0x1234", "--amount", "1"), "--to must be an EVM address"),
        (("wallet", "deposit", "--to", "0x" + "ab" * 20, "--amount", "lots"), "--amount must be a number"),
        (
            ("wallet", "deposit", "--to", "0x" + "ab" * 20, "--amount", "0.0000000000000000001"),
            "more than 18",
        ),
        (("wallet", "deposit", "--to", "0x" + "ab" * 20, "--amount", "-1"), "must be positive"),
        (("wallet", "deposit", "--to", "0x" + "ab" * 20), "deposit needs --amount"),
        (("wallet", "deposit", "--amount", "1"), "--to ADDRESS is required"),
        (("wallet", "deposit", "--channel", "x", "--amount", "1"), "--channel must be a whole number"),
        (("wallet", "balance", "--amount", "1"), "belong to `wallet deposit`"),
        (("devnet", "--port", "http"), "--port must be a whole number"),
        (("devnet", "--port", "70000"), "at most 65535"),
        (("devnet", "--backend", "geth"), "--backend must be one of"),
    ):
        result = djmesh_main(*h, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr


def test_wallet_without_passphrase_or_chain(djmesh_main: Callable[..., CliResult], tmp_path: Path) -> None:
    h = ("--home", str(tmp_path / "node"))
    result = djmesh_main(*h, "wallet", "address")
    assert result.returncode == 1 and "needs a passphrase" in result.stderr
    secret = tmp_path / "pass"
    secret.write_text("s3cret\n")
    address = djmesh_main(*h, "wallet", "address", "--passphrase-file", str(secret)).stdout.strip()
    assert djmesh_main(*h, "wallet", "address").stdout.strip() == address  # no passphrase needed to read it
    result = djmesh_main(*h, "wallet", "balance")
    assert result.returncode == 1 and "no chain configured" in result.stderr
    result = djmesh_main(
        *h, "wallet", "balance", "--rpc-url", f"http://127.0.0.1:{free_port()}", "--chain-id", "1"
    )
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no EVM JSON-RPC node answers at http://127.0.0.1:" in result.stderr


def test_py_evm_devnet_fallback(
    ledger_cli: CliRunner,
    djmesh_main: Callable[..., CliResult],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = tmp_path / "node"
    h = ("--home", str(home))
    secret = tmp_path / "pass"
    secret.write_text("s3cret\n")
    address = _ok(djmesh_main(*h, "wallet", "address", "--json", "--passphrase-file", str(secret)))["address"]
    with devnet(ledger_cli, home, "--backend", "py-evm") as net:
        assert net["backend"] == "py-evm" and net["funded"] == [address]
        _configure(home, net)
        wrong = djmesh_main(*h, "wallet", "balance", "--chain-id", "31337")
        assert wrong.returncode == 1 and f"serves chain ID {net['chain_id']}" in wrong.stderr
        assert _ok(djmesh_main(*h, "wallet", "balance", "--json"))["balance_wei"] == str(100 * 10**18)
        dev = Account.from_key(net["accounts"][1]["private_key"]).address
        deposit = ("wallet", "deposit", "--to", dev, "--amount", "2500wei", "--json")
        result = djmesh_main(*h, *deposit)
        assert result.returncode == 1 and "encrypted: give the passphrase" in result.stderr
        monkeypatch.setenv("DJMESH_PASSPHRASE", "not it")
        result = djmesh_main(*h, *deposit)
        assert result.returncode == 1 and "wrong passphrase" in result.stderr
        monkeypatch.setenv("DJMESH_PASSPHRASE", "s3cret")
        assert _ok(djmesh_main(*h, *deposit))["deposit_wei"] == "2500"
        # the contract's own refusal comes back as a one-line error
        result = djmesh_main(*h, "wallet", "deposit", "--channel", "9", "--amount", "1")
        assert result.returncode == 1 and result.stderr == "djmesh: error: channel is not open\n"
