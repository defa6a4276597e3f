"""Binding an EVM address to a peer: both keys must agree, so nobody can claim another's wallet.

A ``wallet_binding`` envelope is signed by the peer's Ed25519 key (the peer claims the address) and
carries a proof signed by the EVM key (the address owner names the peer): an EIP-191 ``personal_sign``
over a fixed text with the peer ID and the address, the form every Ethereum wallet can sign. One
without the other is worthless: a peer cannot name someone else's address (no proof), and nobody can
bind an address to a peer that did not sign the envelope.

The check is pure computation (Keccak and secp256k1 recovery, ~80 µs here) and lives here, next to the
kind, so every consumer applies the same rule; ``eth_keys`` is imported on first use.
"""

from __future__ import annotations

from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import WalletBinding
from djmesh.protocol.peer_id import peer_id_from_public_key

#: secp256k1 group order / 2: a signature with a higher s is the malleable twin of a valid one
_HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2


class WalletBindingError(ProtocolError):
    """A wallet binding whose EVM proof does not name this peer and address."""


def checksum_address(address: bytes) -> str:
    """EIP-55 text form of a 20-byte address."""
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(address))


def address_bytes(address: str) -> bytes:
    """20 bytes from a 0x-prefixed hex address (any case); ValueError otherwise."""
    text = address[2:] if address.startswith(("0x", "0X")) else ""
    if len(text) != 40:
        raise ValueError(f"not an EVM address: {address!r}")
    return bytes.fromhex(text)


def proof_text(peer_id: str, address: bytes) -> str:
    """What the EVM key signs (shown to the user by wallets that sign it)."""
    return f"djmesh wallet binding\npeer: {peer_id}\nEVM address: {checksum_address(address)}"


def _personal_digest(text: str) -> bytes:
    from eth_utils.crypto import keccak

    data = text.encode()
    return bytes(keccak(b"\x19Ethereum Signed Message:\n" + str(len(data)).encode() + data))


def sign_binding(evm_private_key: bytes, peer_id: str, *, battle: bytes | None = None) -> WalletBinding:
    """The binding of the EVM key's address to ``peer_id`` (sign it with that peer's identity)."""
    from eth_keys.datatypes import PrivateKey

    key = PrivateKey(evm_private_key)
    address = key.public_key.to_canonical_address()
    signature = key.sign_msg_hash(_personal_digest(proof_text(peer_id, address)))
    proof = signature.r.to_bytes(32, "big") + signature.s.to_bytes(32, "big") + bytes([signature.v + 27])
    return WalletBinding(address=address, proof=proof, battle=battle)


def recover_proof_signer(peer_id: str, address: bytes, proof: bytes) -> bytes | None:
    """The 20-byte address that signed the proof text, or None if the proof is not a valid signature."""
    from eth_keys.datatypes import Signature
    from eth_keys.exceptions import BadSignature
    from eth_utils.exceptions import ValidationError

    if len(proof) != 65 or proof[64] not in (27, 28):
        return None
    r, s = int.from_bytes(proof[:32], "big"), int.from_bytes(proof[32:64], "big")
    if not 0 < s <= _HALF_N:
        return None
    try:
        public = Signature(vrs=(proof[64] - 27, r, s)).recover_public_key_from_msg_hash(
            _personal_digest(proof_text(peer_id, address))
        )
    except (BadSignature, ValidationError, ValueError):
        return None
    return bytes(public.to_canonical_address())


def verify_binding(envelope: SignedEnvelope) -> bytes:
    """The EVM address ``envelope``'s author proved to control, or ``WalletBindingError``."""
    binding = envelope.message
    if not isinstance(binding, WalletBinding):
        raise WalletBindingError(f"expected a wallet_binding, got {envelope.kind}")
    signer = recover_proof_signer(envelope.author_peer_id, binding.address, binding.proof)
    if signer is None:
        raise WalletBindingError("the EVM proof is not a valid signature")
    if signer != binding.address:
        raise WalletBindingError(
            f"the EVM proof for {checksum_address(binding.address)} was signed by {checksum_address(signer)} "
            f"(or for another peer than {peer_id_from_public_key(envelope.author)})"
        )
    return binding.address


__all__ = [
    "WalletBindingError",
    "address_bytes",
    "checksum_address",
    "proof_text",
    "recover_proof_signer",
    "sign_binding",
    "verify_binding",
]
