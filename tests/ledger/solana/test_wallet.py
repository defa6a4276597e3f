"""The node's Solana key file: private, encrypted when asked, never overwritten, refused with a wrong passphrase."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from solders.keypair import Keypair

from djmesh.ledger.solana import (
    LiteSVMBackend,
    SolanaLedger,
    WalletError,
    create_wallet,
    load_wallet,
    wallet_path,
)
from djmesh.ledger.solana.wallet import open_wallet, seed_from_solana_cli_file


def test_plain_wallet_round_trips_and_is_private(tmp_path: Path) -> None:
    path = wallet_path(tmp_path / "home")
    created = create_wallet(path)
    assert path == tmp_path / "home" / "wallet" / "solana.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_wallet(path).pubkey() == created.pubkey()
    assert bytes(load_wallet(path)) == bytes(created)


def test_encrypted_wallet_needs_the_right_passphrase(tmp_path: Path) -> None:
    path = wallet_path(tmp_path)
    created = create_wallet(path, passphrase=b"correct horse")
    assert bytes(created)[:32] not in path.read_bytes()
    assert load_wallet(path, passphrase=b"correct horse").pubkey() == created.pubkey()
    with pytest.raises(WalletError, match="wrong passphrase"):
        load_wallet(path, passphrase=b"battery staple")
    with pytest.raises(WalletError, match="encrypted"):
        load_wallet(path)


def test_existing_wallet_is_never_overwritten(tmp_path: Path) -> None:
    path = wallet_path(tmp_path)
    created = create_wallet(path)
    before = path.read_bytes()
    with pytest.raises(WalletError, match="refusing to overwrite"):
        create_wallet(path)
    assert path.read_bytes() == before
    assert open_wallet(path).pubkey() == created.pubkey()


def test_missing_or_damaged_wallet_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="no Solana wallet"):
        load_wallet(tmp_path / "nothing.key")
    junk = tmp_path / "junk.key"
    junk.write_bytes(b"\xff\x00 not cbor")
    with pytest.raises(WalletError, match="not a djmesh identity file"):
        load_wallet(junk)


def test_solana_cli_keypair_imports_to_the_same_address(tmp_path: Path) -> None:
    original = Keypair()
    cli_file = tmp_path / "id.json"
    cli_file.write_text(json.dumps(list(bytes(original))))
    imported = create_wallet(
        wallet_path(tmp_path), passphrase=b"pw", seed=seed_from_solana_cli_file(cli_file)
    )
    assert imported.pubkey() == original.pubkey()
    cli_file.write_text(json.dumps(list(bytes(original))[:32] + list(bytes(Keypair().pubkey()))))
    with pytest.raises(WalletError, match="does not match"):
        seed_from_solana_cli_file(cli_file)
    cli_file.write_text("[1, 2, 3]")
    with pytest.raises(WalletError, match="64 bytes"):
        seed_from_solana_cli_file(cli_file)


async def test_loaded_wallet_signs_payments(tmp_path: Path) -> None:
    path = wallet_path(tmp_path)
    create_wallet(path, passphrase=b"pw")
    ledger = SolanaLedger(LiteSVMBackend(), load_wallet(path, passphrase=b"pw"))
    await ledger.airdrop(10_000_000)
    payment = await ledger.pay_sol(Keypair().pubkey(), 1_000_000, "djmesh voucher c:1000000")
    assert payment.payer == str(load_wallet(path, passphrase=b"pw").pubkey())
