"""BattleEscrow on a real EVM (py-evm), paid out with a real result bundle from protocol/consensus."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from eth_account import Account

from djmesh.ledger.evm import LedgerError, TransactionFailedError, attest_bundle, quorum, sign_result
from djmesh.ledger.evm.escrow import Attestation, Escrow, EscrowBattle, committee_order
from djmesh.protocol.consensus import build_result, verify_result
from djmesh.protocol.envelope import sign
from tests.ledger.conftest import ETH, Evm
from tests.protocol.battle_helpers import Battle, key, scores

DJ_A, DJ_B, SPONSOR = 1, 2, 3


def member_key(n: int) -> bytes:
    """A committee member's EVM key (members need no ETH: anyone submits the payout)."""
    return hashlib.sha256(b"member %d" % n).digest()


@dataclass
class Setup:
    evm: Evm
    battle: Battle
    bundle: bytes
    committee_keys: list[bytes]
    deadline: int

    @property
    def battle_id(self) -> bytes:
        return self.battle.id

    @property
    def committee(self) -> list[str]:
        return committee_order(Account.from_key(k).address for k in self.committee_keys)

    def on_chain(self) -> EscrowBattle:
        found = self.evm.escrow(0).battle(self.battle_id)
        assert found is not None
        return found

    def attest(self, keys: list[bytes]) -> list[Attestation]:
        escrow = self.evm.escrow(0)
        return [attest_bundle(k, escrow.domain, self.on_chain(), self.bundle) for k in keys]


@pytest.fixture
def setup(evm: Evm) -> Setup:
    """Battle won by DJ A (4-member committee, quorum 3); both DJs and a sponsor staked; committee agreed."""
    battle = Battle(committee_size=4)
    envelopes = battle.base() + battle.honest_round(scores(800, 600))
    bundle = sign(build_result(envelopes), key(999), created_at_ms=battle.spec.reveal_by + 60_000).wire
    deadline = evm.chain.timestamp() + 3600
    s = Setup(evm, battle, bundle, [member_key(i) for i in range(4)], deadline)
    evm.escrow(DJ_A).open(battle.id, evm.address(DJ_B), deadline, stake=ETH)
    evm.escrow(DJ_B).stake(battle.id, ETH)
    evm.escrow(SPONSOR).stake(battle.id, 2 * ETH)
    evm.escrow(DJ_A).agree_committee(battle.id, s.committee)
    evm.escrow(DJ_B).agree_committee(battle.id, list(reversed(s.committee)))  # order is canonicalised
    return s


def test_payout_with_2f_plus_1_attestations_of_a_real_result_pays_the_winner(setup: Setup) -> None:
    evm = setup.evm
    on_chain = setup.on_chain()
    assert on_chain.pot == 4 * ETH and on_chain.committee_size == 4 and quorum(4) == 3
    attestations = setup.attest(setup.committee_keys[:3])
    assert {a.winner for a in attestations} == {evm.address(DJ_A)}  # the bundle's winner "a" is DJ A
    before = evm.chain.balance(evm.address(DJ_A))
    result_hash = verify_result(setup.bundle).result_hash  # the canonical hash, not the bundle's bytes
    assert {a.result_hash for a in attestations} == {result_hash}
    evm.escrow(SPONSOR).payout(setup.battle_id, evm.address(DJ_A), result_hash, setup.committee, attestations)
    assert evm.chain.balance(evm.address(DJ_A)) == before + 4 * ETH
    assert setup.on_chain().settled and setup.on_chain().pot == 0
    with pytest.raises(TransactionFailedError, match="already paid out"):
        evm.escrow(SPONSOR).payout(
            setup.battle_id, evm.address(DJ_A), result_hash, setup.committee, attestations
        )
    evm.chain.advance_time(7200)
    with pytest.raises(TransactionFailedError, match="already paid out"):
        evm.escrow(SPONSOR).refund(setup.battle_id)


def test_payout_with_fewer_than_2f_plus_1_distinct_members_is_refused(setup: Setup) -> None:
    evm = setup.evm
    escrow = evm.escrow(SPONSOR)
    winner, result_hash = evm.address(DJ_A), verify_result(setup.bundle).result_hash
    two = setup.attest(setup.committee_keys[:2])
    with pytest.raises(TransactionFailedError, match="fewer than 2f\\+1"):
        escrow.payout(setup.battle_id, winner, result_hash, setup.committee, two)
    # the same member counted twice (the client de-duplicates, so call the contract directly)
    doubled = sorted([two[0], two[0], two[1]], key=lambda a: int(a.signer, 16))
    call = escrow.contract.functions.payout(
        setup.battle_id, winner, result_hash, [], setup.committee, [a.signature.as_abi() for a in doubled]
    )
    with pytest.raises(TransactionFailedError, match="distinct"):
        escrow._send().transact(call)
    # an outsider's signature does not count
    outsider = sign_result(member_key(99), escrow.domain, setup.battle_id, winner, result_hash)
    with pytest.raises(TransactionFailedError, match="not on the committee"):
        escrow.payout(setup.battle_id, winner, result_hash, setup.committee, [*two, outsider])
    # members who signed for another winner or another bundle do not count for this claim
    loser = evm.address(DJ_B)
    for_loser = [
        sign_result(k, escrow.domain, setup.battle_id, loser, result_hash) for k in setup.committee_keys[:3]
    ]
    call = escrow.contract.functions.payout(
        setup.battle_id, winner, result_hash, [], setup.committee,
        [a.signature.as_abi() for a in sorted(for_loser, key=lambda a: int(a.signer, 16))],
    )  # fmt: skip
    with pytest.raises(TransactionFailedError, match="not on the committee"):
        escrow._send().transact(call)
    assert not setup.on_chain().settled and evm.chain.balance(evm.contracts.escrow) == 4 * ETH


def test_payout_needs_the_agreed_committee_and_a_dj_as_winner(setup: Setup) -> None:
    evm = setup.evm
    escrow = evm.escrow(SPONSOR)
    result_hash = hashlib.sha256(setup.bundle).digest()
    attestations = setup.attest(setup.committee_keys[:3])
    fake_committee = [Account.from_key(member_key(i)).address for i in (0, 1, 2, 50)]
    with pytest.raises(TransactionFailedError, match="not the agreed committee"):
        escrow.payout(setup.battle_id, evm.address(DJ_A), result_hash, fake_committee, attestations)
    sponsor_wins = [
        sign_result(k, escrow.domain, setup.battle_id, evm.address(SPONSOR), result_hash)
        for k in setup.committee_keys
    ]
    with pytest.raises(TransactionFailedError, match="one of the battle's DJs"):
        escrow.payout(setup.battle_id, evm.address(SPONSOR), result_hash, setup.committee, sponsor_wins)


def test_the_committee_is_fixed_only_when_both_djs_name_the_same_list(evm: Evm) -> None:
    battle_id = hashlib.sha256(b"battle").digest()
    deadline = evm.chain.timestamp() + 3600
    a, b = evm.escrow(DJ_A), evm.escrow(DJ_B)
    a.open(battle_id, evm.address(DJ_B), deadline)
    members = [Account.from_key(member_key(i)).address for i in range(4)]
    a.agree_committee(battle_id, members)
    assert a.battle(battle_id).committee_size == 0  # type: ignore[union-attr]
    b.agree_committee(battle_id, [*members[:3], Account.from_key(member_key(7)).address])
    assert a.battle(battle_id).committee_size == 0  # type: ignore[union-attr]
    with pytest.raises(TransactionFailedError, match="only the battle's DJs"):
        evm.escrow(SPONSOR).agree_committee(battle_id, members)
    with pytest.raises(TransactionFailedError, match="a DJ cannot sit on the committee"):
        a.agree_committee(battle_id, [*members[:3], evm.address(DJ_B)])
    unsorted = sorted(members, key=lambda m: int(m, 16), reverse=True)
    call = a.contract.functions.agree_committee(battle_id, unsorted)
    with pytest.raises(TransactionFailedError, match="ascending"):
        a._send().transact(call)
    b.agree_committee(battle_id, members)
    fixed = a.battle(battle_id)
    assert (
        fixed is not None and fixed.committee_size == 4 and fixed.committee_hash == a.committee_hash(members)
    )
    with pytest.raises(TransactionFailedError, match="already fixed"):
        a.agree_committee(battle_id, members[:1])


def test_refund_after_the_deadline_when_no_valid_result_came(setup: Setup) -> None:
    evm = setup.evm
    with pytest.raises(TransactionFailedError, match="refunds open at the deadline"):
        evm.escrow(SPONSOR).refund(setup.battle_id)
    evm.chain.advance_time(3601)
    attestations = setup.attest(setup.committee_keys)
    with pytest.raises(TransactionFailedError, match="past the deadline"):
        evm.escrow(SPONSOR).payout(
            setup.battle_id,
            evm.address(DJ_A),
            hashlib.sha256(setup.bundle).digest(),
            setup.committee,
            attestations,
        )
    with pytest.raises(TransactionFailedError, match="past the deadline"):
        evm.escrow(SPONSOR).stake(setup.battle_id, ETH)
    for who, stake in ((SPONSOR, 2 * ETH), (DJ_B, ETH), (DJ_A, ETH)):
        before = evm.chain.balance(evm.address(who))
        receipt = evm.escrow(who).refund(setup.battle_id)
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert evm.chain.balance(evm.address(who)) == before + stake - fee
        with pytest.raises(TransactionFailedError, match="nothing to refund"):
            evm.escrow(who).refund(setup.battle_id)
    assert evm.chain.balance(evm.contracts.escrow) == 0


def test_a_committee_member_will_not_attest_a_tampered_bundle(setup: Setup) -> None:
    tampered = bytearray(setup.bundle)
    tampered[-10] ^= 1
    escrow = setup.evm.escrow(0)
    with pytest.raises(LedgerError, match="invalid result"):
        attest_bundle(setup.committee_keys[0], escrow.domain, setup.on_chain(), bytes(tampered))
    other = Battle(committee_size=4, dj_a=key(5), dj_b=key(6))
    envelopes = other.base() + other.honest_round(scores(800, 600))
    other_bundle = sign(build_result(envelopes), key(999), created_at_ms=other.spec.reveal_by + 60_000).wire
    with pytest.raises(LedgerError, match="another battle"):
        attest_bundle(setup.committee_keys[0], escrow.domain, setup.on_chain(), other_bundle)


def test_a_staker_contract_cannot_re_enter_its_refund(evm: Evm) -> None:
    battle_id = hashlib.sha256(b"reentrancy").digest()
    escrow = evm.escrow(DJ_A)
    escrow.open(battle_id, evm.address(DJ_B), evm.chain.timestamp() + 600, stake=5 * ETH)
    attacker = evm.attacker(evm.contracts.escrow)
    evm.drive(attacker, escrow.contract, "stake", battle_id, value=ETH)
    evm.sender(9).transact(
        attacker.functions.set_reentry(escrow.contract.encode_abi("refund", args=[battle_id]))
    )
    evm.chain.advance_time(601)
    evm.drive(attacker, escrow.contract, "refund", battle_id)
    assert attacker.functions.attempts().call() == 1 and attacker.functions.succeeded().call() == 0
    assert evm.chain.balance(attacker.address) == ETH
    assert evm.chain.balance(evm.contracts.escrow) == 5 * ETH
    escrow.refund(battle_id)  # the honest staker still gets everything back
    assert evm.chain.balance(evm.contracts.escrow) == 0


def test_a_winner_contract_that_refuses_eth_is_owed_and_can_re_enter_nothing(evm: Evm) -> None:
    battle_id = hashlib.sha256(b"refusing winner").digest()
    escrow = evm.escrow(DJ_B)
    attacker = evm.attacker(evm.contracts.escrow)
    evm.drive(
        attacker,
        escrow.contract,
        "open",
        battle_id,
        evm.address(DJ_B),
        evm.chain.timestamp() + 600,
        0,
        value=ETH,
    )
    escrow.stake(battle_id, ETH)
    members = committee_order(Account.from_key(member_key(i)).address for i in range(4))
    evm.drive(attacker, escrow.contract, "agree_committee", battle_id, members)
    escrow.agree_committee(battle_id, members)
    evm.sender(9).transact(attacker.functions.set_refuse(True))
    result_hash = hashlib.sha256(b"bundle").digest()
    attestations = [
        sign_result(member_key(i), escrow.domain, battle_id, attacker.address, result_hash) for i in range(3)
    ]
    escrow.payout(battle_id, attacker.address, result_hash, members, attestations)  # not blocked
    assert escrow.owed(attacker.address) == 2 * ETH and evm.chain.balance(attacker.address) == 0
    evm.sender(9).transact(attacker.functions.set_refuse(False))
    evm.sender(9).transact(attacker.functions.set_reentry(escrow.contract.encode_abi("withdraw", args=[])))
    evm.drive(attacker, escrow.contract, "withdraw")
    assert attacker.functions.attempts().call() == 1 and attacker.functions.succeeded().call() == 0
    assert evm.chain.balance(attacker.address) == 2 * ETH and escrow.owed(attacker.address) == 0
    assert evm.chain.balance(evm.contracts.escrow) == 0


def test_client_refuses_bad_ids(evm: Evm) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        evm.escrow(DJ_A).open(b"short", evm.address(DJ_B), evm.chain.timestamp() + 60)
    with pytest.raises(LedgerError, match="no contract"):
        Escrow(evm.chain, evm.address(5))
