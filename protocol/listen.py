"""Pay-per-listen on the wire (sans-IO): a stream's price, the listener's vouchers, join tickets.

A priced stream carries ``price`` in its ``stream_announce`` (`StreamPrice`): where the DJ is paid
(an EVM chain, a ListenChannel contract, the DJ's address), how much per second and how often to
pay. Listeners pay with ``listen_voucher`` messages sent to the DJ's inbox topic; each carries a
cumulative EIP-712 voucher. This module checks shapes only: the secp256k1 signatures are checked by
the DJ's node against the chain (``djmesh.ledger.evm.vouchers.VoucherBook``).

A *join ticket* proves who is asking to join a priced stream: the listener's Ed25519 key signs
the stream ID and the time, so the DJ knows which payer a child link belongs to.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar, Self

import nacl.exceptions
import nacl.signing

from djmesh.protocol import cbor, schema
from djmesh.protocol.cbor import CborKey, CborValue
from djmesh.protocol.errors import BadSignatureError, InvalidPayloadError, ProtocolError
from djmesh.protocol.messages import Message, register
from djmesh.protocol.topics import inbox_topic

MAX_UINT256 = 2**256 - 1
MAX_CHANNEL_ID = 2**63 - 1
EVM_SIGNATURE_BYTES = 65
TICKET_CONTEXT = b"djmesh/listen-ticket/v1\x00"
TICKET_MAX_SKEW_MS = 60_000
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,77}")


class PriceError(InvalidPayloadError):
    """A stream's ``price`` map is malformed (its chain, contract, payee, rate or interval)."""


class VoucherShapeError(InvalidPayloadError):
    """A ``listen_voucher`` payload is malformed (not a check of its signature)."""


class TicketError(ProtocolError):
    """A join ticket for a priced stream is missing or malformed."""


class TicketSignatureError(TicketError, BadSignatureError):
    """A join ticket's signature does not verify against the key it names."""


class StaleTicketError(TicketError):
    """A join ticket signed too long ago (or in the future): a replay or a badly wrong clock."""


def evm_address(value: CborValue, name: str, error: type[InvalidPayloadError]) -> str:
    """``0x`` and 40 hex digits (checksum case is the ledger's business, not the wire's)."""
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise error(f"{name}: expected an EVM address (0x and 40 hex digits)")
    return value


def wei(value: CborValue, name: str, error: type[InvalidPayloadError], *, minimum: int = 0) -> int:
    """A decimal string (wei does not fit a float, and CBOR integers stop at 64 bits)."""
    if not isinstance(value, str) or not _DECIMAL.fullmatch(value):
        raise error(f"{name}: expected a decimal string without sign or leading zeros")
    amount = int(value, 10)
    if not minimum <= amount <= MAX_UINT256:
        raise error(f"{name}: must be {minimum}..2^256-1")
    return amount


@dataclass(frozen=True)
class StreamPrice:
    """The terms a priced stream is sold on (inside its signed ``stream_announce``)."""

    FIELDS: ClassVar[frozenset[str]] = frozenset({"chain_id", "contract", "payee", "wei_per_s", "interval_s"})

    chain_id: int
    contract: str  # the ListenChannel contract
    payee: str  # the DJ's EVM address
    wei_per_s: int
    interval_s: int = 2  # how often the listener sends a voucher

    def to_value(self) -> dict[CborKey, CborValue]:
        return {
            "chain_id": self.chain_id,
            "contract": self.contract,
            "payee": self.payee,
            "wei_per_s": str(self.wei_per_s),
            "interval_s": self.interval_s,
        }

    @classmethod
    def from_value(cls, value: CborValue) -> Self:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise PriceError("price: expected a map with text keys")
        payload = {str(k): v for k, v in value.items()}
        unknown = sorted(set(payload) - cls.FIELDS)
        if unknown:
            raise PriceError(f"price: unknown fields: {', '.join(unknown)}")
        try:
            chain_id = schema.integer(payload, "chain_id", minimum=1, maximum=2**63 - 1)
            interval_s = schema.integer(payload, "interval_s", minimum=1, maximum=60)
        except InvalidPayloadError as exc:
            raise PriceError(f"price: {exc}") from None
        return cls(
            chain_id=chain_id,
            contract=evm_address(payload.get("contract"), "price.contract", PriceError),
            payee=evm_address(payload.get("payee"), "price.payee", PriceError),
            wei_per_s=wei(payload.get("wei_per_s"), "price.wei_per_s", PriceError, minimum=1),
            interval_s=interval_s,
        )

    def cost(self, seconds: float) -> int:
        """Wei for ``seconds`` of listening, rounded up (a listener never underpays by rounding)."""
        micro = round(seconds * 1_000_000)
        return -(-micro * self.wei_per_s // 1_000_000)


@register
@dataclass(frozen=True)
class ListenVoucher(Message):
    """Listener -> DJ: a cumulative payment voucher for listening to ``stream``.

    ``signature`` is the EIP-712 ``Voucher(channelId, amount)`` signature by the channel's
    listener; ``binding`` is that same EVM key signing ``ListenBinding(channelId, listenerKey)``
    for this envelope's author, so nobody can present someone else's channel as their own.
    Routed to the DJ's inbox topic only (``dj`` is the DJ's Ed25519 key).
    """

    KIND: ClassVar[str] = "listen_voucher"
    FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"stream", "dj", "chain_id", "contract", "channel", "amount", "signature", "binding"}
    )

    stream: bytes
    dj: bytes
    chain_id: int
    contract: str
    channel: int
    amount: int  # cumulative, wei
    signature: bytes
    binding: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "stream": self.stream,
            "dj": self.dj,
            "chain_id": self.chain_id,
            "contract": self.contract,
            "channel": self.channel,
            "amount": str(self.amount),
            "signature": self.signature,
            "binding": self.binding,
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        try:
            stream = schema.required_digest(payload, "stream")
            dj = schema.required_digest(payload, "dj")
            chain_id = schema.integer(payload, "chain_id", minimum=1, maximum=2**63 - 1)
            channel = schema.integer(payload, "channel", minimum=1, maximum=MAX_CHANNEL_ID)
        except InvalidPayloadError as exc:
            raise VoucherShapeError(str(exc)) from None
        signatures = []
        for name in ("signature", "binding"):
            value = payload.get(name)
            if not isinstance(value, bytes) or len(value) != EVM_SIGNATURE_BYTES:
                raise VoucherShapeError(f"{name}: expected a {EVM_SIGNATURE_BYTES}-byte r||s||v signature")
            signatures.append(value)
        return cls(
            stream=stream,
            dj=dj,
            chain_id=chain_id,
            contract=evm_address(payload.get("contract"), "contract", VoucherShapeError),
            channel=channel,
            amount=wei(payload.get("amount"), "amount", VoucherShapeError),
            signature=signatures[0],
            binding=signatures[1],
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        return (inbox_topic(self.dj),)


# -- join tickets (on the live control stream) ------------------------------------------------------


@dataclass(frozen=True)
class JoinTicket:
    listener: bytes  # Ed25519 public key
    at_ms: int
    signature: bytes

    def to_value(self) -> dict[CborKey, CborValue]:
        return {"k": self.listener, "t": self.at_ms, "g": self.signature}


def _ticket_body(stream: bytes, listener: bytes, at_ms: int) -> bytes:
    return TICKET_CONTEXT + cbor.encode({"s": stream, "k": listener, "t": at_ms})


def sign_ticket(key: nacl.signing.SigningKey, stream: bytes, now_ms: int) -> JoinTicket:
    listener = bytes(key.verify_key)
    return JoinTicket(listener, now_ms, key.sign(_ticket_body(stream, listener, now_ms)).signature)


def verify_ticket(
    value: CborValue, stream: bytes, *, now_ms: int, max_skew_ms: int = TICKET_MAX_SKEW_MS
) -> JoinTicket:
    """The ticket in a join for ``stream``, or a ``TicketError`` saying what is wrong with it."""
    if value is None:
        raise TicketError("a priced stream needs a join ticket")
    if not isinstance(value, dict) or set(value) != {"k", "t", "g"}:
        raise TicketError("ticket must be a map with keys k t g")
    listener, at_ms, signature = value["k"], value["t"], value["g"]
    if not isinstance(listener, bytes) or len(listener) != 32:
        raise TicketError("ticket key must be 32 bytes")
    if not isinstance(at_ms, int) or isinstance(at_ms, bool) or not 0 <= at_ms < 2**63:
        raise TicketError("ticket time must be a non-negative integer")
    if not isinstance(signature, bytes) or len(signature) != 64:
        raise TicketError("ticket signature must be 64 bytes")
    if abs(now_ms - at_ms) > max_skew_ms:
        raise StaleTicketError(f"ticket signed {(now_ms - at_ms) / 1000:.0f} s from now")
    try:
        nacl.signing.VerifyKey(listener).verify(_ticket_body(stream, listener, at_ms), signature)
    except (nacl.exceptions.CryptoError, ValueError, TypeError) as exc:
        raise TicketSignatureError("ticket signature does not verify") from exc
    return JoinTicket(listener, at_ms, signature)


class TicketReplayGuard:
    """Each ticket admits once: a copied ticket is refused (bounded memory, tickets expire anyway)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._capacity = capacity

    def first_use(self, ticket: JoinTicket) -> bool:
        if ticket.signature in self._seen:
            return False
        self._seen[ticket.signature] = None
        while len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return True
