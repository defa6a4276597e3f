"""EIP-712 typed-data hashing and secp256k1 signatures for the two djmesh contracts' structs.

The structs are fixed and small, so the digest is built directly (as the contracts build it) instead
of going through eth_account's generic typed-data encoder: signing a voucher every few seconds
should cost microseconds, not milliseconds. tests/ledger check the digest against eth_account's encoder
and against the contracts' own `*_digest` view functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from eth_keys.datatypes import PrivateKey
from eth_keys.datatypes import Signature as KeySignature
from eth_keys.exceptions import BadSignature
from eth_utils.address import to_canonical_address, to_checksum_address
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

DOMAIN_TYPEHASH = keccak(
    b"EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
#: secp256k1 group order; signatures with s above half of it are refused (the malleable twin)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
HALF_N = SECP256K1_N // 2


def word(value: int) -> bytes:
    """One ABI word (uint256, big-endian)."""
    return value.to_bytes(32, "big")


def address_word(address: str) -> bytes:
    return bytes(12) + to_canonical_address(address)


@dataclass(frozen=True)
class Domain:
    """EIP712Domain(name, version, chainId, verifyingContract) of one deployed contract."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str

    @cached_property
    def separator(self) -> bytes:
        return keccak(
            DOMAIN_TYPEHASH
            + keccak(self.name.encode())
            + keccak(self.version.encode())
            + word(self.chain_id)
            + address_word(self.verifying_contract)
        )

    def digest(self, struct_hash: bytes) -> bytes:
        return keccak(b"\x19\x01" + self.separator + struct_hash)

    def as_typed_data(self) -> dict[str, Any]:
        """The domain as eth_account's `encode_typed_data` takes it."""
        return {
            "name": self.name,
            "version": self.version,
            "chainId": self.chain_id,
            "verifyingContract": to_checksum_address(self.verifying_contract),
        }


@dataclass(frozen=True)
class Signature:
    """A recoverable secp256k1 signature as the contracts take it: (v, r, s) with v in {27, 28}."""

    v: int
    r: bytes
    s: bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> Signature:
        """From the 65-byte r || s || v form (v 27/28 or 0/1)."""
        if len(data) != 65:
            raise ValueError("a signature is 65 bytes")
        v = data[64] + 27 if data[64] < 27 else data[64]
        return cls(v, data[:32], data[32:64])

    def to_bytes(self) -> bytes:
        return self.r + self.s + bytes([self.v])

    def as_abi(self) -> tuple[int, bytes, bytes]:
        return (self.v, self.r, self.s)


def sign_digest(private_key: bytes, digest: bytes) -> Signature:
    signature = PrivateKey(private_key).sign_msg_hash(digest)
    return Signature(signature.v + 27, word(signature.r), word(signature.s))


def recover_signer(digest: bytes, signature: Signature) -> str | None:
    """The checksummed address that signed ``digest``, or None for an invalid or malleable signature."""
    if signature.v not in (27, 28) or len(signature.r) != 32 or len(signature.s) != 32:
        return None
    s = int.from_bytes(signature.s, "big")
    if s == 0 or s > HALF_N:
        return None
    try:
        vrs = (signature.v - 27, int.from_bytes(signature.r, "big"), s)
        public = KeySignature(vrs=vrs).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError):
        return None
    return public.to_checksum_address()


def address_of(private_key: bytes) -> str:
    return PrivateKey(private_key).public_key.to_checksum_address()
