"""The node's Solana wallet key, kept in the node home next to (but apart from) the node identity.

A Solana keypair is an Ed25519 key, so the file is written by the node identity's own code
(`djmesh.node.identity`): the 32-byte seed, sealed under an Argon2id-derived key when a passphrase
is given, mode 0600, created with O_EXCL so an existing wallet is never overwritten. Keeping the
wallet key apart from the identity key means a node can rotate one without the other.
"""

from __future__ import annotations

import json
from pathlib import Path

from solders.keypair import Keypair

from djmesh.ledger.solana.errors import WalletError
from djmesh.node.identity import IdentityError, create_identity, load_identity

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
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        identity = create_identity(path, passphrase=passphrase, seed=seed)
    except IdentityError as exc:
        raise WalletError(str(exc)) from exc
    except OSError as exc:
        raise WalletError(f"cannot write {path}: {exc.strerror}") from exc
    return Keypair.from_seed(identity.seed)


def load_wallet(path: Path, *, passphrase: bytes | None = None) -> Keypair:
    """Read the keypair; an encrypted file needs its passphrase, a wrong one is refused."""
    if not path.exists():
        raise WalletError(f"no Solana wallet at {path}")
    try:
        identity = load_identity(path, passphrase=passphrase)
    except IdentityError as exc:
        raise WalletError(str(exc)) from exc
    return Keypair.from_seed(identity.seed)


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
