"""The node's Ed25519 identity: one key names it on libp2p and signs everything it says.

The key file is deterministic CBOR. Unencrypted it holds the 32-byte seed; with a passphrase
the seed is sealed with XSalsa20-Poly1305 under an Argon2id-derived key. The file is created
with mode 0600 and O_EXCL, so an existing identity is never overwritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from djmesh.protocol import cbor
from djmesh.protocol.errors import DecodeError
from djmesh.protocol.peer_id import peer_id_from_public_key

PASSPHRASE_ENV = "DJMESH_PASSPHRASE"
_FORMAT = "djmesh-identity"
_KDF_OPS = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
_KDF_MEM = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE


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


def _derive(passphrase: bytes, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=ops, memlimit=mem
    )


def _serialize(seed: bytes, passphrase: bytes | None) -> bytes:
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    if passphrase is None:
        return cbor.encode({"format": _FORMAT, "version": 1, "public": public, "seed": seed})
    salt = nacl.utils.random(nacl.pwhash.argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, _KDF_OPS, _KDF_MEM))
    return cbor.encode(
        {
            "format": _FORMAT,
            "version": 1,
            "public": public,
            "kdf": "argon2id",
            "salt": salt,
            "ops": _KDF_OPS,
            "mem": _KDF_MEM,
            "sealed": bytes(box.encrypt(seed)),
        }
    )


def create_identity(path: Path, *, passphrase: bytes | None = None, seed: bytes | None = None) -> Identity:
    """Generate (or import from ``seed``) a key and write it; refuses if ``path`` exists."""
    signing_key = nacl.signing.SigningKey(seed) if seed is not None else nacl.signing.SigningKey.generate()
    data = _serialize(bytes(signing_key), passphrase)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise IdentityError(f"{path} already exists; refusing to overwrite an identity") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return Identity(signing_key)


def _read_key_file(path: Path) -> dict[cbor.CborKey, cbor.CborValue]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise IdentityError(f"no identity at {path}; run `djmesh init` first") from exc
    except OSError as exc:
        raise IdentityError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = cbor.decode(raw)
    except DecodeError as exc:
        raise IdentityError(f"{path} is not a djmesh identity file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("version") != 1:
        raise IdentityError(f"{path} is not a djmesh identity file")
    return data


def read_public_key(path: Path) -> bytes:
    """The public key, readable without the passphrase (so `djmesh id` never asks for it)."""
    public = _read_key_file(path).get("public")
    if not isinstance(public, bytes) or len(public) != 32:
        raise IdentityError(f"{path}: damaged public key")
    return public


def load_identity(path: Path, *, passphrase: bytes | None = None) -> Identity:
    data = _read_key_file(path)
    seed = data.get("seed")
    if "sealed" in data:
        if passphrase is None:
            raise IdentityError(
                f"{path} is encrypted: give the passphrase with --passphrase-file or ${PASSPHRASE_ENV}"
            )
        salt, ops, mem, sealed = data.get("salt"), data.get("ops"), data.get("mem"), data.get("sealed")
        if not (isinstance(salt, bytes) and isinstance(ops, int) and isinstance(mem, int)):
            raise IdentityError(f"{path}: damaged key-derivation parameters")
        if not isinstance(sealed, bytes):
            raise IdentityError(f"{path}: damaged sealed key")
        try:
            box_key = _derive(passphrase, salt, ops, mem)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise IdentityError(f"{path}: damaged key-derivation parameters") from exc
        try:
            seed = nacl.secret.SecretBox(box_key).decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise IdentityError(f"wrong passphrase for {path}") from exc
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise IdentityError(f"{path}: damaged key")
    identity = Identity(nacl.signing.SigningKey(seed))
    if identity.public_key != data.get("public"):
        raise IdentityError(f"{path}: the public key does not match the secret key")
    return identity


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
