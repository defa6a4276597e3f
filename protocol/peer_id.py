"""libp2p peer IDs for Ed25519 keys, so one key names the node on the network and signs its messages.

A libp2p Ed25519 peer ID is the identity multihash of the protobuf ``PublicKey{Type: Ed25519,
Data: key}``, written in base58btc (it starts ``12D3KooW``). See the libp2p peer-ids spec.
"""

from __future__ import annotations

from djmesh.protocol.errors import MalformedMessageError

_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {char: i for i, char in enumerate(_ALPHABET)}
# protobuf: field 1 (KeyType) varint 1 = Ed25519; field 2 (Data) length 32.
_ED25519_PROTOBUF_PREFIX = b"\x08\x01\x12\x20"
# multihash: code 0x00 (identity), length 36.
_IDENTITY_MULTIHASH_PREFIX = b"\x00\x24"


def b58encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = []
    while number:
        number, rem = divmod(number, 58)
        digits.append(_ALPHABET[rem])
    leading_zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * leading_zeros + "".join(reversed(digits))


def b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        if char not in _INDEX:
            raise MalformedMessageError(f"invalid base58 character {char!r}")
        number = number * 58 + _INDEX[char]
    leading_ones = len(text) - len(text.lstrip("1"))
    body = number.to_bytes((number.bit_length() + 7) // 8, "big") if number else b""
    return b"\0" * leading_ones + body


def peer_id_from_public_key(public_key: bytes) -> str:
    """The libp2p peer ID (``12D3KooW...``) of a raw 32-byte Ed25519 public key."""
    if len(public_key) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return b58encode(_IDENTITY_MULTIHASH_PREFIX + _ED25519_PROTOBUF_PREFIX + public_key)


def public_key_from_peer_id(peer_id: str) -> bytes:
    """Inverse of ``peer_id_from_public_key``; refuses peer IDs that are not Ed25519 identity hashes."""
    return public_key_from_peer_id_bytes(b58decode(peer_id))


def public_key_from_peer_id_bytes(raw: bytes) -> bytes:
    """``public_key_from_peer_id`` for a peer ID's binary form (as libp2p messages carry it)."""
    prefix = _IDENTITY_MULTIHASH_PREFIX + _ED25519_PROTOBUF_PREFIX
    if len(raw) != len(prefix) + 32 or not raw.startswith(prefix):
        raise MalformedMessageError("not an Ed25519 libp2p peer ID")
    return raw[len(prefix) :]
