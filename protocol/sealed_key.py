"""The key-file format: an Ed25519 seed as deterministic CBOR, sealed under a passphrase when one is given.

The node identity (`djmesh.node.identity`) and the Solana wallet key (`djmesh.ledger.solana.wallet`) are
both such files. The format is bytes in, bytes out, so it sits below both; each owner reads and writes
its own file. Sealing is XSalsa20-Poly1305 under an Argon2id-derived key.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing
import nacl.utils

from djmesh.protocol import cbor
from djmesh.protocol.errors import DecodeError

PASSPHRASE_ENV = "DJMESH_PASSPHRASE"
_FORMAT = "djmesh-identity"
_KDF_OPS = nacl.pwhash.argon2id.OPSLIMIT_INTERACTIVE
_KDF_MEM = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE


class KeyFileError(ValueError):
    """The bytes are not a usable key file, or the passphrase is wrong or missing; the message says which."""


def _derive(passphrase: bytes, salt: bytes, ops: int, mem: int) -> bytes:
    return nacl.pwhash.argon2id.kdf(
        nacl.secret.SecretBox.KEY_SIZE, passphrase, salt, opslimit=ops, memlimit=mem
    )


def seal_key(seed: bytes, passphrase: bytes | None) -> bytes:
    """The key file holding ``seed``: in the clear without a passphrase, sealed with one."""
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


def _fields(raw: bytes) -> dict[cbor.CborKey, cbor.CborValue]:
    try:
        data = cbor.decode(raw)
    except DecodeError as exc:
        raise KeyFileError(f"not a djmesh identity file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("version") != 1:
        raise KeyFileError("not a djmesh identity file")
    return data


def public_key_in(raw: bytes) -> bytes:
    """The public key, readable without the passphrase (so `djmesh id` never asks for it)."""
    public = _fields(raw).get("public")
    if not isinstance(public, bytes) or len(public) != 32:
        raise KeyFileError("damaged public key")
    return public


def open_key(raw: bytes, passphrase: bytes | None) -> bytes:
    """The seed in the key file ``raw``; a sealed file needs its passphrase, and a wrong one is refused."""
    data = _fields(raw)
    seed = data.get("seed")
    if "sealed" in data:
        if passphrase is None:
            raise KeyFileError(f"encrypted: give the passphrase with --passphrase-file or ${PASSPHRASE_ENV}")
        salt, ops, mem, sealed = data.get("salt"), data.get("ops"), data.get("mem"), data.get("sealed")
        if not (isinstance(salt, bytes) and isinstance(ops, int) and isinstance(mem, int)):
            raise KeyFileError("damaged key-derivation parameters")
        if not isinstance(sealed, bytes):
            raise KeyFileError("damaged sealed key")
        try:
            box_key = _derive(passphrase, salt, ops, mem)
        except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
            raise KeyFileError("damaged key-derivation parameters") from exc
        try:
            seed = nacl.secret.SecretBox(box_key).decrypt(sealed)
        except nacl.exceptions.CryptoError as exc:
            raise KeyFileError("wrong passphrase") from exc
    if not isinstance(seed, bytes) or len(seed) != 32:
        raise KeyFileError("damaged key")
    if bytes(nacl.signing.SigningKey(seed).verify_key) != data.get("public"):
        raise KeyFileError("the public key does not match the secret key")
    return seed
