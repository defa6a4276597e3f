"""Which djmesh peer a listen channel belongs to, signed by the channel's own EVM key.

Vouchers travel on public gossip, so anyone could copy a paying listener's voucher into a message
of their own and claim the stream. The binding closes that: the channel's listener signs the
EIP-712 struct ``ListenBinding(uint256 channelId, bytes32 listenerKey)`` (its Ed25519 key) under
the ListenChannel contract's domain, and the DJ credits a channel only to the peer it names. The
struct's type hash differs from ``Voucher``'s, so a binding can never be cashed as a voucher.
"""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from djmesh.ledger.evm.eip712 import Domain, Signature, recover_signer, sign_digest, word

BINDING_TYPEHASH = keccak(b"ListenBinding(uint256 channelId,bytes32 listenerKey)")


def binding_digest(domain: Domain, channel_id: int, listener_key: bytes) -> bytes:
    if len(listener_key) != 32:
        raise ValueError("a listener key is 32 bytes")
    return domain.digest(keccak(BINDING_TYPEHASH + word(channel_id) + listener_key))


def sign_binding(private_key: bytes, domain: Domain, channel_id: int, listener_key: bytes) -> bytes:
    return sign_digest(private_key, binding_digest(domain, channel_id, listener_key)).to_bytes()


def binding_holds(domain: Domain, channel_id: int, listener_key: bytes, binding: bytes, owner: str) -> bool:
    """True if ``owner`` (the channel's listener address on chain) bound the channel to ``listener_key``."""
    try:
        signature = Signature.from_bytes(binding)
    except ValueError:
        return False
    signer = recover_signer(binding_digest(domain, channel_id, listener_key), signature)
    return signer is not None and signer == to_checksum_address(owner)
