"""The node's Ed25519 identity: one key names it on libp2p and signs everything it says.

The key file's format (deterministic CBOR, the seed sealed under a passphrase when one is given) is
`djmesh.protocol.sealed_key`; this module owns the file: created with mode 0600 and O_EXCL, so an
existing identity is never overwritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.sealed_key import PASSPHRASE_ENV, KeyFileError, open_key, public_key_in, seal_key


class IdentityError(Exception):
    """The key is missing, unreadable, or the passphrase is wrong; the message says which."""


@dataclass(frozen=True)
class Identity:
    signing_key: nacl.signing.SigningKey

    @property
    def public_key(self) -> bytes:
        return bytes(self.signing_key.verify_key)

    @property
    def peer_id(self) -> str:
        return peer_id_from_public_key(self.public_key)

    @property
    def seed(self) -> bytes:
        return bytes(self.signing_key)


def create_identity(path: Path, *, passphrase: bytes | None = None, seed: bytes | None = None) -> Identity:
    """Generate (or import from ``seed``) a key and write it; refuses if ``path`` exists."""
    signing_key = nacl.signing.SigningKey(seed) if seed is not None else nacl.signing.SigningKey.generate()
    data = seal_key(bytes(signing_key), passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise IdentityError(f"{path} already exists; refusing to overwrite an identity") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Identity(signing_key)


def _read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise IdentityError(f"no identity at {path}; run `djmesh init` first") from exc
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror}") from exc


def read_public_key(path: Path) -> bytes:
    """The public key, readable without the passphrase (so `djmesh id` never asks for it)."""
    try:
        return public_key_in(_read_key_file(path))
    except KeyFileError as exc:
        raise IdentityError(f"{path}: {exc}") from exc


def load_identity(path: Path, *, passphrase: bytes | None = None) -> Identity:
    try:
        return Identity(nacl.signing.SigningKey(open_key(_read_key_file(path), passphrase)))
    except KeyFileError as exc:
        raise IdentityError(f"{path}: {exc}") from exc


def read_passphrase(passphrase_file: str | None) -> bytes | None:
    """From ``--passphrase-file`` (first line), else ``$DJMESH_PASSPHRASE``, else none."""
    if passphrase_file:
        try:
            text = Path(passphrase_file).read_text(encoding="utf-8")
        except OSError as exc:
            raise IdentityError(f"cannot read passphrase file {passphrase_file}: {exc.strerror}") from exc
        line = text.splitlines()[0] if text else ""
        if not line:
            raise IdentityError(f"passphrase file {passphrase_file} is empty")
        return line.encode("utf-8")
    from_env = os.environ.get(PASSPHRASE_ENV)
    return from_env.encode("utf-8") if from_env else None
