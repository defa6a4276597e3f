"""The node's Solana wallet key, kept in the node home next to (but apart from) the node identity.

A Solana keypair is an Ed25519 key, so the file has the node identity's format
(`djmesh.protocol.sealed_key`): the 32-byte seed, sealed under an Argon2id-derived key when a
passphrase is given. It is written with mode 0600 and O_EXCL, so an existing wallet is never overwritten. Keeping the
wallet key apart from the identity key means a node can rotate one without the other.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from solders.keypair import Keypair

from djmesh.ledger.solana.errors import WalletError
from djmesh.protocol.sealed_key import KeyFileError, open_key, public_key_in, seal_key

WALLET_DIR = "wallet"
WALLET_FILE = "solana.key"


def wallet_path(home: Path) -> Path:
    """Where the node whose home is ``home`` keeps its Solana key."""
    return home / WALLET_DIR / WALLET_FILE


def create_wallet(path: Path, *, passphrase: bytes | None = None, seed: bytes | None = None) -> Keypair:
    """Generate (or import from a 32-byte ``seed``) a keypair and write it; refuses if ``path`` exists."""
    if seed is not None and len(seed) != 32:
        raise WalletError(f"a Solana seed is 32 bytes, not {len(seed)}")
    if path.exists():
        raise WalletError(f"{path} already exists; refusing to overwrite a wallet")
    keypair = Keypair() if seed is None else Keypair.from_seed(seed)
    data = seal_key(keypair.secret(), passphrase)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        with open(path, "xb", opener=lambda name, flags: os.open(name, flags, 0o600)) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except FileExistsError as exc:
        raise WalletError(f"{path} already exists; refusing to overwrite a wallet") from exc
    except OSError as exc:
        raise WalletError(f"cannot write {path}: {exc.strerror}") from exc
    return keypair


def load_wallet(path: Path, *, passphrase: bytes | None = None) -> Keypair:
    """Read the keypair; an encrypted file needs its passphrase, a wrong one is refused."""
    if not path.exists():
        raise WalletError(f"no Solana wallet at {path}")
    try:
        return Keypair.from_seed(open_key(path.read_bytes(), passphrase))
    except KeyFileError as exc:
        raise WalletError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from exc


def wallet_public_key(path: Path) -> bytes:
    """The wallet's public key, readable without the passphrase."""
    try:
        return public_key_in(path.read_bytes())
    except KeyFileError as exc:
        raise WalletError(f"{path}: {exc}") from exc
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from exc


def open_wallet(path: Path, *, passphrase: bytes | None = None) -> Keypair:
    """Load the wallet, creating it on first use."""
    if path.exists():
        return load_wallet(path, passphrase=passphrase)
    return create_wallet(path, passphrase=passphrase)


def seed_from_solana_cli_file(path: Path) -> bytes:
    """The seed in a Solana CLI keypair file (a JSON array of 64 bytes: seed then public key), to import it."""
    try:
        values = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise WalletError(f"cannot read {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise WalletError(f"{path} is not a Solana keypair file ({exc})") from exc
    if not (
        isinstance(values, list)
        and len(values) == 64
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in values)
    ):
        raise WalletError(f"{path} is not a Solana keypair file (expected a JSON array of 64 bytes)")
    raw = bytes(values)
    if bytes(Keypair.from_seed(raw[:32]).pubkey()) != raw[32:]:
        raise WalletError(f"{path}: the public key does not match the secret key")
    return raw[:32]
