"""Vouchers without a chain: EIP-712 digests, signing, and the DJ's VoucherBook."""

from __future__ import annotations

import hashlib

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st

from djmesh.ledger.evm import (
    ChannelTerms,
    Voucher,
    VoucherBook,
    VoucherIssuer,
    VoucherRefusedError,
    sign_voucher,
)
from djmesh.ledger.evm.eip712 import Signature
from djmesh.ledger.evm.escrow import RESULT_TYPES, escrow_domain, result_digest
from djmesh.ledger.evm.vouchers import VOUCHER_TYPES, channel_domain, voucher_digest
from djmesh.ledger.zk.gate import gate_battle_digest, gate_domain
from tests.ledger.conftest import ETH, Evm

LISTENER_KEY = hashlib.sha256(b"listener").digest()
DJ = Account.from_key(hashlib.sha256(b"dj").digest()).address
CONTRACT = "0x2946259E0334f33A064106302415aD3391BeD384"
DOMAIN = channel_domain(31337, CONTRACT)
NOW = 1_000_000


def _eth_account_digest(
    domain: dict[str, object], types: dict[str, object], message: dict[str, object]
) -> bytes:
    signable = encode_typed_data(domain_data=domain, message_types=types, message_data=message)
    return keccak(b"\x19" + signable.version + signable.header + signable.body)


@given(channel=st.integers(1, 2**256 - 1), amount=st.integers(0, 2**256 - 1), chain_id=st.integers(1, 2**64))
def test_voucher_digest_matches_eth_account(channel: int, amount: int, chain_id: int) -> None:
    domain = channel_domain(chain_id, CONTRACT)
    expected = _eth_account_digest(
        domain.as_typed_data(), VOUCHER_TYPES, {"channelId": channel, "amount": amount}
    )
    assert voucher_digest(domain, channel, amount) == expected


@pytest.mark.parametrize("forfeits", [(), (CONTRACT,), (DJ, CONTRACT)])
def test_result_digest_matches_eth_account(forfeits: tuple[str, ...]) -> None:
    domain = escrow_domain(1, CONTRACT)
    battle, bundle = hashlib.sha256(b"b").digest(), hashlib.sha256(b"r").digest()
    message = {"battleId": battle, "winner": DJ, "resultHash": bundle, "forfeits": list(forfeits)}
    assert result_digest(domain, battle, DJ, bundle, forfeits) == _eth_account_digest(
        domain.as_typed_data(), RESULT_TYPES, message
    )


def test_gate_battle_digest_matches_eth_account() -> None:
    domain = gate_domain(5, CONTRACT)
    battle = hashlib.sha256(b"b").digest()
    message = {"battleId": battle, "djs": [DJ, CONTRACT], "price": 10**15, "rewardBps": 2_000, "endsAt": NOW}
    types = {
        "GateBattle": [
            {"name": "battleId", "type": "bytes32"},
            {"name": "djs", "type": "address[]"},
            {"name": "price", "type": "uint256"},
            {"name": "rewardBps", "type": "uint256"},
            {"name": "endsAt", "type": "uint256"},
        ]
    }
    assert gate_battle_digest(domain, battle, [DJ, CONTRACT], 10**15, 2_000, NOW) == _eth_account_digest(
        domain.as_typed_data(), types, message
    )


def test_digests_match_the_deployed_contracts(evm: Evm) -> None:
    channels, escrow = evm.channels(0), evm.escrow(0)
    assert channels.contract.functions.voucher_digest(7, 123).call() == voucher_digest(
        channels.domain, 7, 123
    )
    battle, bundle = hashlib.sha256(b"b").digest(), hashlib.sha256(b"r").digest()
    for forfeits in ([], [DJ], sorted([DJ, CONTRACT], key=lambda a: int(a, 16))):
        on_chain = escrow.contract.functions.result_digest(battle, DJ, bundle, forfeits).call()
        assert on_chain == result_digest(escrow.domain, battle, DJ, bundle, forfeits)


def _book(deposit: int = ETH, paid: int = 0, expires_at: int = NOW + 3600) -> VoucherBook:
    book = VoucherBook(DOMAIN, DJ, close_margin_s=300)
    listener = Account.from_key(LISTENER_KEY).address
    book.track(ChannelTerms(1, listener, DJ, deposit, paid, expires_at, False))
    return book


def test_book_accepts_only_strictly_increasing_vouchers_within_the_deposit() -> None:
    book = _book()
    issuer = VoucherIssuer(LISTENER_KEY, DOMAIN, 1, ETH)
    assert book.accept(issuer.pay(100), now_s=NOW) == 100
    assert book.accept(issuer.pay(250), now_s=NOW) == 150
    second = issuer.pay(250)
    with pytest.raises(VoucherRefusedError, match="stale or replayed") as refused:
        book.accept(second, now_s=NOW)
    assert refused.value.reason == "amount not above the latest voucher (stale or replayed)"
    with pytest.raises(VoucherRefusedError, match="stale"):
        book.accept(sign_voucher(LISTENER_KEY, DOMAIN, 1, 200), now_s=NOW)
    with pytest.raises(VoucherRefusedError, match="exceeds the deposit"):
        book.accept(sign_voucher(LISTENER_KEY, DOMAIN, 1, ETH + 1), now_s=NOW)
    assert book.total(1) == 250 and book.latest(1) is not None and book.latest(1).amount == 250  # type: ignore[union-attr]


def test_book_refuses_forged_and_misdirected_vouchers_with_a_reason() -> None:
    book = _book()
    cases = {
        "not signed by the channel's listener": sign_voucher(hashlib.sha256(b"x").digest(), DOMAIN, 1, 10),
        "unknown channel": sign_voucher(LISTENER_KEY, DOMAIN, 2, 10),
    }
    other_chain = sign_voucher(LISTENER_KEY, channel_domain(1, CONTRACT), 1, 10)
    cases["not signed by the channel's listener"] = other_chain  # replay from another chain
    for reason, voucher in cases.items():
        with pytest.raises(VoucherRefusedError) as refused:
            book.accept(voucher, now_s=NOW)
        assert refused.value.reason == reason
    good = sign_voucher(LISTENER_KEY, DOMAIN, 1, 10)
    tampered = Voucher(1, 11, good.signature)
    with pytest.raises(VoucherRefusedError, match="listener"):
        book.accept(tampered, now_s=NOW)
    junk = Voucher(1, 10, Signature(27, bytes(32), bytes(32)))
    with pytest.raises(VoucherRefusedError, match="listener"):
        book.accept(junk, now_s=NOW)
    assert book.total(1) == 0


def test_book_stops_accepting_when_the_channel_nears_expiry_and_counts_on_chain_claims() -> None:
    book = _book(paid=500, expires_at=NOW + 400)
    with pytest.raises(VoucherRefusedError, match="stale"):
        book.accept(sign_voucher(LISTENER_KEY, DOMAIN, 1, 400), now_s=NOW)
    assert book.accept(sign_voucher(LISTENER_KEY, DOMAIN, 1, 600), now_s=NOW) == 100
    assert book.due_for_closing(now_s=NOW) == []
    with pytest.raises(VoucherRefusedError, match="expires too soon"):
        book.accept(sign_voucher(LISTENER_KEY, DOMAIN, 1, 700), now_s=NOW + 100)
    assert [v.amount for v in book.due_for_closing(now_s=NOW + 100)] == [600]
    with pytest.raises(VoucherRefusedError, match="another DJ"):
        book.track(ChannelTerms(3, DJ, Account.from_key(LISTENER_KEY).address, 1, 0, NOW + 9999, False))


def test_voucher_wire_form_round_trips_and_malformed_input_is_refused() -> None:
    voucher = sign_voucher(LISTENER_KEY, DOMAIN, 1, 2**200)
    assert Voucher.from_json(voucher.as_json()) == voucher
    for bad in (None, {}, {"channel": "1", "amount": "1", "signature": "00"}, {**voucher.as_json(), "amount": 5},
                {**voucher.as_json(), "signature": "0x1234"}, {**voucher.as_json(), "channel": 0},
                {**voucher.as_json(), "amount": "-1"}, {**voucher.as_json(), "channel": True}):  # fmt: skip
        with pytest.raises(VoucherRefusedError, match="malformed"):
            Voucher.from_json(bad)


def test_issuer_never_goes_down_or_above_the_deposit() -> None:
    issuer = VoucherIssuer(LISTENER_KEY, DOMAIN, 1, 1000)
    issuer.pay(10)
    with pytest.raises(ValueError, match="cannot go down"):
        issuer.pay(5)
    with pytest.raises(ValueError, match="exceeds"):
        issuer.pay(1001)
    issuer.top_up(2000)
    assert issuer.pay(1500).signer(DOMAIN) == Account.from_key(LISTENER_KEY).address


def test_a_voucher_signed_by_a_generic_eip712_wallet_is_accepted() -> None:
    message = {"channelId": 1, "amount": 42}
    signed = Account.sign_typed_data(LISTENER_KEY, DOMAIN.as_typed_data(), VOUCHER_TYPES, message)
    voucher = Voucher(1, 42, Signature.from_bytes(bytes(signed.signature)))
    assert _book().accept(voucher, now_s=NOW) == 42
