"""The node's EVM account: one secp256k1 key in an encrypted Web3 Secret Storage file (scrypt).

The file lives at HOME/wallet/keystore.json, mode 0600, created with O_EXCL so an existing wallet is
never overwritten. Its address is readable without the passphrase (so `wallet address`, `balance` and
`channels` never ask for it); signing needs the passphrase. A wallet holds money, so it is never
stored unencrypted: without a passphrase the node has an address but cannot pay or cash vouchers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_hex_address, to_checksum_address

from djmesh.ledger.evm.errors import WalletError

#: scrypt cost of new keystores (the Web3 Secret Storage default: ~0.5-1 s and 256 MiB to unlock)
DEFAULT_SCRYPT_N = 2**18
#: tests and dev chains only: a cheaper scrypt cost for new keystores (a power of two, >= 2**10)
SCRYPT_N_ENV = "DJMESH_WALLET_SCRYPT_N"


def keystore_path(home_root: Path) -> Path:
    return home_root / "wallet" / "keystore.json"


def scrypt_n_from_env() -> int:
    text = os.environ.get(SCRYPT_N_ENV)
    if not text:
        return DEFAULT_SCRYPT_N
    try:
        n = int(text)
    except ValueError:
        raise WalletError(f"${SCRYPT_N_ENV} must be a power of two, got {text!r}") from None
    if n < 2**10 or n & (n - 1):
        raise WalletError(f"${SCRYPT_N_ENV} must be a power of two of at least 1024, got {n}")
    return n


def create_keystore(
    path: Path, passphrase: bytes, *, private_key: bytes | None = None, scrypt_n: int = DEFAULT_SCRYPT_N
) -> str:
    """Write a new encrypted key (random unless ``private_key``); returns its address."""
    if not passphrase:
        raise WalletError("a wallet needs a passphrase: give --passphrase-file or set $DJMESH_PASSPHRASE")
    account = Account.from_key(private_key) if private_key is not None else Account.create()
    document = Account.encrypt(account.key, passphrase.decode("utf-8"), kdf="scrypt", iterations=scrypt_n)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise WalletError(f"{path} already exists; refusing to overwrite a wallet") from exc
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(document, handle)
        handle.flush()
        os.fsync(handle.fileno())
    return str(account.address)


def _read(path: Path) -> dict[str, Any]:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WalletError(f"no wallet at {path}; create one with `djmesh wallet address`") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WalletError(f"{path} is not a readable keystore ({exc})") from exc
    if not isinstance(document, dict) or document.get("version") != 3 or "crypto" not in document:
        raise WalletError(f"{path} is not a Web3 Secret Storage (v3) keystore")
    return document


def read_address(path: Path) -> str:
    address = _read(path).get("address")
    if not isinstance(address, str) or not is_hex_address("0x" + address.removeprefix("0x")):
        raise WalletError(f"{path}: damaged address")
    return str(to_checksum_address("0x" + address.removeprefix("0x")))


def load_account(path: Path, passphrase: bytes | None) -> LocalAccount:
    document = _read(path)
    if not passphrase:
        raise WalletError(
            f"{path} is encrypted: give the passphrase with --passphrase-file or $DJMESH_PASSPHRASE"
        )
    try:
        key = Account.decrypt(document, passphrase.decode("utf-8"))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WalletError(f"wrong passphrase for {path}") from exc
        raise WalletError(f"{path}: damaged keystore ({exc})") from exc
    account: LocalAccount = Account.from_key(key)
    if account.address != read_address(path):
        raise WalletError(f"{path}: the address does not match the key")
    return account
