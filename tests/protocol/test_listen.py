"""Pay-per-listen on the wire: stream prices, listen_voucher shapes, join tickets."""

from __future__ import annotations

import nacl.signing
import pytest

from djmesh.protocol import decode_envelope, sign
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import BadSignatureError, InvalidPayloadError, ProtocolError
from djmesh.protocol.listen import (
    ListenVoucher,
    PriceError,
    StaleTicketError,
    StreamPrice,
    TicketError,
    TicketReplayGuard,
    TicketSignatureError,
    VoucherShapeError,
    sign_ticket,
    verify_ticket,
)
from djmesh.protocol.stream import StreamAnnounce
from djmesh.protocol.topics import belongs_on, inbox_topic

NOW = 1_700_000_000_000
CONTRACT = "0x2946259E0334f33A064106302415aD3391BeD384"
PAYEE = "0x" + "ab" * 20
PRICE = StreamPrice(31337, CONTRACT, PAYEE, wei_per_s=10**12, interval_s=2)
STREAM = bytes(range(32))


def _voucher(**changes: CborValue) -> dict[str, CborValue]:
    payload: dict[str, CborValue] = {
        "stream": STREAM,
        "dj": bytes(32),
        "chain_id": 31337,
        "contract": CONTRACT,
        "channel": 7,
        "amount": "2000000000000",
        "signature": bytes(65),
        "binding": bytes(65),
    }
    payload.update(changes)
    return payload


def test_a_free_announce_is_the_same_bytes_as_before_and_a_priced_one_round_trips(
    signing_key: nacl.signing.SigningKey,
) -> None:
    free = StreamAnnounce(title="set", nonce=b"n")
    assert "price" not in free.to_payload()  # old announcements keep their stream IDs
    priced = StreamAnnounce(title="set", nonce=b"n", price=PRICE)
    envelope = sign(priced, signing_key, created_at_ms=NOW)
    decoded = decode_envelope(envelope.wire, now_ms=NOW)
    assert isinstance(decoded.message, StreamAnnounce) and decoded.message.price == PRICE
    assert decoded.content_id != sign(free, signing_key, created_at_ms=NOW).content_id


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"wei_per_s": "0"}, "wei_per_s"),
        ({"wei_per_s": 5}, "decimal string"),
        ({"wei_per_s": "012"}, "leading zeros"),
        ({"wei_per_s": str(2**256)}, "2\\^256"),
        ({"contract": "0x1234"}, "contract"),
        ({"payee": "ab" * 21}, "payee"),
        ({"interval_s": 0}, "interval_s"),
        ({"chain_id": True}, "chain_id"),
        ({"extra": 1}, "unknown fields: extra"),
    ],
)
def test_bad_prices_are_refused(change: dict[str, CborValue], match: str) -> None:
    value: dict[str, CborValue] = {**PRICE.to_value(), **change}
    with pytest.raises(PriceError, match=match):
        StreamPrice.from_value(value)
    payload = {**StreamAnnounce(title="x").to_payload(), "price": value}
    with pytest.raises(InvalidPayloadError):  # PriceError is one
        StreamAnnounce.parse(payload)


def test_price_cost_rounds_up_to_the_wei() -> None:
    price = StreamPrice(1, CONTRACT, PAYEE, wei_per_s=3, interval_s=1)
    assert price.cost(0) == 0
    assert price.cost(1) == 3
    assert price.cost(0.5) == 2  # 1.5 wei owed: the listener never pays less than it heard


def test_a_voucher_travels_to_the_djs_inbox_only(signing_key: nacl.signing.SigningKey) -> None:
    dj = bytes(nacl.signing.SigningKey(bytes(32)).verify_key)
    voucher = ListenVoucher.parse(_voucher(dj=dj))
    assert voucher.amount == 2 * 10**12 and voucher.channel == 7
    envelope = sign(voucher, signing_key, created_at_ms=NOW)
    assert belongs_on(envelope, inbox_topic(dj))
    assert not belongs_on(envelope, inbox_topic(bytes(signing_key.verify_key)))
    again = decode_envelope(envelope.wire, now_ms=NOW).message
    assert again == voucher


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"amount": 5}, "decimal string"),
        ({"amount": "-5"}, "decimal string"),
        ({"amount": "1e9"}, "decimal string"),
        ({"amount": str(2**256)}, "2\\^256"),
        ({"channel": 0}, "channel"),
        ({"stream": b"short"}, "stream"),
        ({"signature": bytes(64)}, "signature"),
        ({"binding": "00" * 65}, "binding"),
        ({"contract": "not an address"}, "contract"),
    ],
)
def test_malformed_vouchers_are_refused(change: dict[str, CborValue], match: str) -> None:
    with pytest.raises(VoucherShapeError, match=match):
        ListenVoucher.parse(_voucher(**change))


def test_a_ticket_names_its_signer_and_only_for_its_stream(
    signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    ticket = sign_ticket(signing_key, STREAM, NOW)
    assert verify_ticket(ticket.to_value(), STREAM, now_ms=NOW + 5_000).listener == bytes(
        signing_key.verify_key
    )
    with pytest.raises(TicketSignatureError):
        verify_ticket(ticket.to_value(), bytes(32), now_ms=NOW)  # another stream
    forged = {**ticket.to_value(), "k": bytes(other_key.verify_key)}  # claims to be someone else
    with pytest.raises(BadSignatureError):
        verify_ticket(forged, STREAM, now_ms=NOW)
    with pytest.raises(StaleTicketError):
        verify_ticket(ticket.to_value(), STREAM, now_ms=NOW + 120_000)
    for bad in (
        None,
        {"k": bytes(32)},
        {"k": b"x", "t": NOW, "g": bytes(64)},
        {"k": bytes(32), "t": -1, "g": bytes(64)},
    ):
        with pytest.raises(TicketError):
            verify_ticket(bad, STREAM, now_ms=NOW)
    guard = TicketReplayGuard()
    assert guard.first_use(ticket) and not guard.first_use(ticket)


def test_every_listen_error_is_a_protocol_error() -> None:
    for error in (PriceError, VoucherShapeError, TicketError, TicketSignatureError, StaleTicketError):
        assert issubclass(error, ProtocolError)
