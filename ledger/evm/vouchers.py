"""Listen-channel vouchers: the listener's node signs them, the DJ's node decides whether to accept them.

A voucher is the EIP-712 struct Voucher(channelId, amount) signed by the channel's listener, where
``amount`` is cumulative: everything owed so far. Both sides here are sans-IO: the channel terms come
from the chain (`ListenChannels.channel`) and are handed in, so this module never blocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from eth_utils.crypto import keccak

from djmesh.ledger.evm.eip712 import Domain, Signature, address_of, recover_signer, sign_digest, word
from djmesh.ledger.evm.errors import VoucherRefusedError

VOUCHER_TYPEHASH = keccak(b"Voucher(uint256 channelId,uint256 amount)")
VOUCHER_TYPES = {"Voucher": [{"name": "channelId", "type": "uint256"}, {"name": "amount", "type": "uint256"}]}
MAX_UINT256 = 2**256 - 1


def channel_domain(chain_id: int, contract: str) -> Domain:
    return Domain("djmesh ListenChannel", "1", chain_id, to_checksum_address(contract))


def voucher_digest(domain: Domain, channel_id: int, amount: int) -> bytes:
    return domain.digest(keccak(VOUCHER_TYPEHASH + word(channel_id) + word(amount)))


@dataclass(frozen=True)
class Voucher:
    channel_id: int
    amount: int  # cumulative, in wei
    signature: Signature

    def signer(self, domain: Domain) -> str | None:
        return recover_signer(voucher_digest(domain, self.channel_id, self.amount), self.signature)

    def as_json(self) -> dict[str, Any]:
        """Wire form: amounts as decimal strings (wei does not fit a JSON double)."""
        return {
            "channel": self.channel_id,
            "amount": str(self.amount),
            "signature": "0x" + self.signature.to_bytes().hex(),
        }

    @classmethod
    def from_json(cls, data: Any) -> Voucher:
        """Parse a voucher a peer sent; raises VoucherRefusedError on any malformed field."""
        try:
            channel, amount, signature = data["channel"], data["amount"], data["signature"]
            if not isinstance(channel, int) or isinstance(channel, bool) or not isinstance(amount, str):
                raise TypeError
            value = int(amount, 10)
            sig = Signature.from_bytes(bytes.fromhex(signature.removeprefix("0x")))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise VoucherRefusedError("malformed voucher") from None
        if not (0 < channel <= MAX_UINT256 and 0 <= value <= MAX_UINT256):
            raise VoucherRefusedError("malformed voucher")
        return cls(channel, value, sig)


def sign_voucher(private_key: bytes, domain: Domain, channel_id: int, amount: int) -> Voucher:
    return Voucher(channel_id, amount, sign_digest(private_key, voucher_digest(domain, channel_id, amount)))


@dataclass(frozen=True)
class ChannelTerms:
    """What the chain says about a channel (see `ListenChannels.channel`)."""

    channel_id: int
    listener: str
    payee: str
    deposit: int
    paid: int
    expires_at: int
    closed: bool


class VoucherIssuer:
    """The listener's side of one channel: signs ever-growing cumulative vouchers within the deposit."""

    def __init__(self, private_key: bytes, domain: Domain, channel_id: int, deposit: int) -> None:
        self._key = private_key
        self.domain = domain
        self.channel_id = channel_id
        self.deposit = deposit
        self.address = address_of(private_key)
        self.total = 0

    def top_up(self, deposit: int) -> None:
        self.deposit = max(self.deposit, deposit)

    def pay(self, total: int) -> Voucher:
        """A voucher for ``total`` wei so far (never less than before, never above the deposit)."""
        if total < self.total:
            raise ValueError(f"cumulative amount cannot go down ({total} < {self.total})")
        if total > self.deposit:
            raise ValueError(f"{total} wei exceeds the channel's deposit of {self.deposit}")
        self.total = total
        return sign_voucher(self._key, self.domain, self.channel_id, total)


class VoucherBook:
    """The DJ's side: accepts only valid, strictly increasing vouchers within each channel's deposit.

    The DJ keeps streaming to a listener while `accept` keeps succeeding, and closes each channel on
    chain with `latest(channel)` before the channel's expiry minus ``close_margin_s``.
    """

    def __init__(self, domain: Domain, payee: str, *, close_margin_s: int = 300) -> None:
        self.domain = domain
        self.payee = to_checksum_address(payee)
        self.close_margin_s = close_margin_s
        self._terms: dict[int, ChannelTerms] = {}
        self._latest: dict[int, Voucher] = {}

    def track(self, terms: ChannelTerms) -> None:
        """Start (or keep, after a top-up) accepting vouchers for a channel read from the chain."""
        if to_checksum_address(terms.payee) != self.payee:
            raise VoucherRefusedError("channel pays another DJ")
        if terms.closed:
            raise VoucherRefusedError("channel closed")
        self._terms[terms.channel_id] = terms

    def forget(self, channel_id: int) -> None:
        self._terms.pop(channel_id, None)
        self._latest.pop(channel_id, None)

    def accept(self, voucher: Voucher, *, now_s: int) -> int:
        """Record ``voucher``; returns the wei it adds, or raises VoucherRefusedError with the reason."""
        terms = self._terms.get(voucher.channel_id)
        if terms is None:
            raise VoucherRefusedError("unknown channel")
        if now_s >= terms.expires_at - self.close_margin_s:
            raise VoucherRefusedError("channel expires too soon to close it on chain")
        signer = voucher.signer(self.domain)
        if signer is None or not is_address(signer) or signer != to_checksum_address(terms.listener):
            raise VoucherRefusedError("not signed by the channel's listener")
        if voucher.amount > terms.deposit:
            raise VoucherRefusedError("amount exceeds the deposit")
        floor = max(terms.paid, self.total(voucher.channel_id))
        if voucher.amount <= floor:
            raise VoucherRefusedError("amount not above the latest voucher (stale or replayed)")
        self._latest[voucher.channel_id] = voucher
        return voucher.amount - floor

    def total(self, channel_id: int) -> int:
        latest = self._latest.get(channel_id)
        return latest.amount if latest else 0

    def latest(self, channel_id: int) -> Voucher | None:
        return self._latest.get(channel_id)

    def channels(self) -> list[ChannelTerms]:
        return list(self._terms.values())

    def due_for_closing(self, *, now_s: int) -> list[Voucher]:
        """Vouchers whose channels must be closed now (inside the margin before expiry)."""
        return [
            voucher
            for channel_id, voucher in self._latest.items()
            if (terms := self._terms.get(channel_id)) and now_s >= terms.expires_at - self.close_margin_s
        ]
