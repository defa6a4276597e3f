"""Wallet bindings, escrow terms on a battle and escrow attestations: the protocol side (sans-IO)."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct

from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.battle import (
    BATTLES_TOPIC,
    BattleAnnounce,
    BattleAttestation,
    BattleMachine,
    EscrowTerms,
    Received,
    battle_topic,
)
from djmesh.protocol.cbor import decode, encode
from djmesh.protocol.envelope import SIGNING_CONTEXT, decode_envelope, sign
from djmesh.protocol.errors import InvalidPayloadError
from djmesh.protocol.topics import author_topic, inbox_topic, topics_for
from djmesh.protocol.wallet import (
    WalletBindingError,
    address_bytes,
    proof_text,
    sign_binding,
    verify_binding,
)
from tests.protocol.battle_helpers import T0, Battle, key

EVM_KEY = hashlib.sha256(b"evm key").digest()
OTHER_EVM_KEY = hashlib.sha256(b"other evm key").digest()
HALF_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141 // 2


def evm_address(private_key: bytes) -> bytes:
    return address_bytes(Account.from_key(private_key).address)


def peer(n: int) -> str:
    return peer_id_from_public_key(bytes(key(n).verify_key))


def test_a_binding_proves_both_keys_and_matches_what_wallets_sign() -> None:
    binding = sign_binding(EVM_KEY, peer(1))
    envelope = decode_envelope(sign(binding, key(1), created_at_ms=T0).wire, now_ms=None)
    assert verify_binding(envelope) == evm_address(EVM_KEY)
    # the proof is a plain EIP-191 personal_sign: what MetaMask and eth_account produce
    text = proof_text(peer(1), evm_address(EVM_KEY))
    assert peer(1) in text and Account.from_key(EVM_KEY).address in text
    signed = Account.sign_message(encode_defunct(text=text), EVM_KEY)
    assert bytes(signed.signature) == binding.proof
    assert topics_for(envelope) == (author_topic(bytes(key(1).verify_key)),)


def test_nobody_can_claim_another_address_or_lend_a_binding_to_another_peer() -> None:
    # a peer claims someone else's address with a proof of its own key
    claimed = replace(sign_binding(OTHER_EVM_KEY, peer(1)), address=evm_address(EVM_KEY))
    with pytest.raises(WalletBindingError, match="signed by"):
        verify_binding(sign(claimed, key(1), created_at_ms=T0))
    # a genuine proof for peer 1, published by peer 2
    with pytest.raises(WalletBindingError, match="signed by"):
        verify_binding(sign(sign_binding(EVM_KEY, peer(1)), key(2), created_at_ms=T0))
    # the malleable twin of a valid proof (s -> n - s, v flipped)
    proof = sign_binding(EVM_KEY, peer(1)).proof
    s = int.from_bytes(proof[32:64], "big")
    twin = proof[:32] + (2 * HALF_N + 1 - s).to_bytes(32, "big") + bytes([55 - proof[64]])
    with pytest.raises(WalletBindingError, match="not a valid signature"):
        verify_binding(sign(replace(sign_binding(EVM_KEY, peer(1)), proof=twin), key(1), created_at_ms=T0))
    # garbage that has the right shape
    junk = replace(sign_binding(EVM_KEY, peer(1)), proof=bytes(64) + b"\x1b")
    with pytest.raises(WalletBindingError, match="not a valid signature"):
        verify_binding(sign(junk, key(1), created_at_ms=T0))


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("address", bytes(19), "20-byte EVM address"),
        ("address", bytes(20), "non-zero"),
        ("proof", bytes(65), "v 27 or 28"),
        ("proof", bytes(64), "65-byte"),
        ("chain", "solana", "chain: must be one of eip155"),
        ("battle", b"short", "battle: expected 32 bytes"),
    ],
)
def test_malformed_bindings_are_refused_at_decoding(field: str, value: object, error: str) -> None:
    wire = sign(sign_binding(EVM_KEY, peer(1)), key(1), created_at_ms=T0).wire
    envelope = decode(wire)
    assert isinstance(envelope, dict) and isinstance(envelope["p"], dict)
    envelope["p"][field] = value  # type: ignore[assignment]
    del envelope["s"]
    envelope["s"] = key(1).sign(SIGNING_CONTEXT + encode(envelope)).signature  # a valid signature over it
    with pytest.raises(InvalidPayloadError, match=error):  # the payload rule refuses it
        decode_envelope(encode(envelope), now_ms=None)


def test_a_binding_presented_to_a_battle_travels_on_its_topic() -> None:
    battle_id = hashlib.sha256(b"battle").digest()
    envelope = sign(sign_binding(EVM_KEY, peer(1), battle=battle_id), key(1), created_at_ms=T0)
    assert topics_for(envelope) == (author_topic(bytes(key(1).verify_key)), battle_topic(battle_id))
    assert verify_binding(decode_envelope(envelope.wire, now_ms=None)) == evm_address(EVM_KEY)


def terms(spec: BattleAnnounce, **changes: object) -> EscrowTerms:
    base = EscrowTerms(
        chain_id=31337,
        contract=b"\x11" * 20,
        dj_a=evm_address(EVM_KEY),
        dj_b=evm_address(OTHER_EVM_KEY),
        deadline=spec.reveal_by // 1000 + 3600,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_escrow_terms_ride_in_the_announcement_and_battles_without_them_keep_their_ids() -> None:
    battle = Battle()
    plain = battle.spec
    assert "escrow" not in plain.to_payload()  # the same payload, hence the same battle ID, as before
    assert set(plain.to_payload()) == set(BattleAnnounce.FIELDS) - {"escrow", "open"}
    with_escrow = replace(plain, escrow=terms(plain))
    envelope = decode_envelope(sign(with_escrow, battle.dj_a, created_at_ms=T0).wire, now_ms=None)
    assert isinstance(envelope.message, BattleAnnounce) and envelope.message.escrow == with_escrow.escrow
    assert envelope.content_id != battle.id
    assert topics_for(envelope) == (
        battle_topic(envelope.content_id),
        BATTLES_TOPIC,
        inbox_topic(with_escrow.opponent),  # the challenge, to DJ B
    )


@pytest.mark.parametrize(
    ("mutate", "error"),
    [
        (lambda p, spec: p.__setitem__("escrow", None), "omit it"),
        (lambda p, spec: p["escrow"].__setitem__("deadline", spec.reveal_by // 1000), "after the reveal"),
        (lambda p, spec: p["escrow"].__setitem__("dj_b", p["escrow"]["dj_a"]), "two different addresses"),
        (lambda p, spec: p["escrow"].__setitem__("contract", bytes(20)), "escrow.contract"),
        (lambda p, spec: p["escrow"].__setitem__("chain_id", 0), "chain_id"),
        (lambda p, spec: p["escrow"].__setitem__("fee", 1), "unknown fields: fee"),
    ],
)
def test_bad_escrow_terms_are_refused(mutate: object, error: str) -> None:
    spec = Battle().spec
    payload = replace(spec, escrow=terms(spec)).to_payload()
    payload["escrow"] = dict(payload["escrow"])  # type: ignore[arg-type]
    mutate(payload, spec)  # type: ignore[operator]
    with pytest.raises(InvalidPayloadError, match=error):
        BattleAnnounce.parse(payload)


def test_attestations_are_shaped_and_never_count_as_evidence() -> None:
    battle = Battle()
    good = BattleAttestation(
        battle=battle.id, result=b"\x22" * 32, winner=b"\x33" * 20, signature=bytes(64) + b"\x1c"
    )
    payload = good.to_payload()
    assert BattleAttestation.parse(payload) == good
    for field, value, error in (
        ("winner", bytes(19), "20-byte"),
        ("signature", bytes(65), "v 27 or 28"),
        ("result", bytes(31), "result: expected 32 bytes"),
    ):
        with pytest.raises(InvalidPayloadError, match=error):
            BattleAttestation.parse({**payload, field: value})
    machine = BattleMachine(battle.announce)
    envelope = sign(good, key(100), created_at_ms=T0 + 5000)
    assert topics_for(envelope) == (battle_topic(battle.id),)
    assert machine.handle(Received(envelope), T0 + 5000) == []
    assert envelope not in machine.evidence()
