"""Public keys from user input: a base58 string or a `Pubkey`, refused clearly when it is neither."""

from __future__ import annotations

from solders.pubkey import Pubkey

from djmesh.ledger.solana.errors import InvalidAddressError


def parse_address(value: str | Pubkey, *, what: str = "address") -> Pubkey:
    """``what`` names the argument in the error (``recipient``, ``mint``) so the caller knows which was wrong."""
    if isinstance(value, Pubkey):
        return value
    if not isinstance(value, str):
        raise InvalidAddressError(f"{what} must be a base58 string, not {type(value).__name__}")
    text = value.strip()
    try:
        address = Pubkey.from_string(text)
    except ValueError as exc:
        raise InvalidAddressError(f"{what} {value!r} is not a Solana address") from exc
    if str(address) != text:
        raise InvalidAddressError(f"{what} {value!r} is not a Solana address")
    return address
