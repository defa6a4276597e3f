"""Seat bonds in BattleEscrow on a real EVM (py-evm): a seat costs a bond that a forfeiting offence in the
attested result or a reported equivocation burns, and that is released otherwise."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from eth_account import Account

from djmesh.ledger.evm import LedgerError, TransactionFailedError, TxSender, attest_bundle, sign_result
from djmesh.ledger.evm.escrow import Attestation, Escrow, committee_order
from djmesh.protocol.consensus import build_result, verify_result
from djmesh.protocol.envelope import sign
from tests.ledger.conftest import ETH, Evm
from tests.protocol.battle_helpers import Battle, key, scores

DJ_A, DJ_B, SPONSOR = 1, 2, 3
BOND = ETH // 10


def member_key(n: int) -> bytes:
    return hashlib.sha256(b"bonded member %d" % n).digest()


def address(private_key: bytes) -> str:
    return str(Account.from_key(private_key).address)


def escrow_of(evm: Evm, private_key: bytes) -> Escrow:
    return Escrow(evm.chain, evm.contracts.escrow, TxSender(evm.chain, Account.from_key(private_key)))


@dataclass
class Bonded:
    evm: Evm
    battle: Battle
    keys: list[bytes]  # EVM key of battle.members[i]
    deadline: int

    @property
    def battle_id(self) -> bytes:
        return self.battle.id

    @property
    def committee(self) -> list[str]:
        return committee_order(address(k) for k in self.keys)

    @property
    def member_address(self) -> dict[bytes, str]:
        return {bytes(m.verify_key): address(k) for m, k in zip(self.battle.members, self.keys, strict=True)}

    def member(self, n: int) -> Escrow:
        return escrow_of(self.evm, self.keys[n])

    def bundle(self, *, silent: int | None = None) -> bytes:
        """A result won by DJ A; member ``silent`` committed but never revealed (``no_reveal``)."""
        envelopes = list(self.battle.base())
        for n, m in enumerate(self.battle.members):
            sealed = self.battle.seal(m, scores(800, 600))
            envelopes.append(self.battle.commit(m, sealed))
            if n != silent:
                envelopes.append(self.battle.reveal(m, sealed))
        return sign(build_result(envelopes), key(999), created_at_ms=self.battle.spec.reveal_by + 60_000).wire

    def attest(self, bundle: bytes, members: range | list[int]) -> list[Attestation]:
        entry = self.evm.escrow(0).battle(self.battle_id)
        assert entry is not None
        domain = self.evm.escrow(0).domain
        return [attest_bundle(self.keys[n], domain, entry, bundle, self.member_address) for n in members]


@pytest.fixture
def bonded(evm: Evm) -> Bonded:
    """A battle asking a 0.1 ETH seat bond; the four members funded (not bonded yet); DJ A staked 1 ETH."""
    battle = Battle(committee_size=4)
    keys = [member_key(i) for i in range(4)]
    for k in [*keys, member_key(9)]:
        evm.sender(0).transact(to=address(k), value=ETH)
    deadline = evm.chain.timestamp() + 3600
    evm.escrow(DJ_A).open(battle.id, evm.address(DJ_B), deadline, stake=ETH, seat_bond=BOND)
    return Bonded(evm, battle, keys, deadline)


def bond_and_fix(b: Bonded) -> None:
    for n in range(4):
        b.member(n).post_bond(b.battle_id, BOND)
    b.evm.escrow(DJ_A).agree_committee(b.battle_id, b.committee)
    b.evm.escrow(DJ_B).agree_committee(b.battle_id, b.committee)


def test_the_committee_cannot_be_fixed_while_a_member_has_not_bonded(bonded: Bonded) -> None:
    b, escrow = bonded, bonded.evm.escrow(DJ_A)
    assert escrow.battle(b.battle_id).seat_bond == BOND  # type: ignore[union-attr]
    with pytest.raises(TransactionFailedError, match="exactly the battle's"):
        b.member(0).post_bond(b.battle_id, BOND - 1)
    with pytest.raises(TransactionFailedError, match="a DJ cannot sit"):
        b.evm.escrow(DJ_B).post_bond(b.battle_id, BOND)
    for n in range(3):
        b.member(n).post_bond(b.battle_id, BOND)
    with pytest.raises(TransactionFailedError, match="already posted"):
        b.member(0).post_bond(b.battle_id, BOND)
    with pytest.raises(TransactionFailedError, match="posted no seat bond"):
        escrow.agree_committee(b.battle_id, b.committee)
    b.member(3).post_bond(b.battle_id, BOND)
    escrow.agree_committee(b.battle_id, b.committee)
    b.evm.escrow(DJ_B).agree_committee(b.battle_id, b.committee)
    assert escrow.battle(b.battle_id).committee_size == 4  # type: ignore[union-attr]
    # nobody bonds after seeing the draw
    outsider = escrow_of(b.evm, member_key(9))
    with pytest.raises(TransactionFailedError, match="already fixed"):
        outsider.post_bond(b.battle_id, BOND)
    assert all(escrow.bond_of(b.battle_id, a) == BOND for a in b.committee)


def test_a_no_reveal_named_by_the_attested_result_burns_that_members_bond(bonded: Bonded) -> None:
    b, evm = bonded, bonded.evm
    candidate = escrow_of(evm, member_key(9))
    candidate.post_bond(b.battle_id, BOND)  # a candidate the draw did not seat
    bond_and_fix(b)
    # the unseated candidate takes its bond back as soon as the committee is fixed
    candidate.release_bond(b.battle_id, b.committee)
    assert candidate.bond_of(b.battle_id, address(member_key(9))) == 0
    with pytest.raises(TransactionFailedError, match="stays until the deadline"):
        b.member(0).release_bond(b.battle_id, b.committee)

    bundle = b.bundle(silent=3)
    result = verify_result(bundle)
    silent = address(b.keys[3])
    assert [o.kind for o in result.offences] == ["no_reveal"]
    attestations = b.attest(bundle, range(3))
    assert {a.forfeits for a in attestations} == {(silent,)}
    escrow = evm.escrow(SPONSOR)
    escrow.payout(b.battle_id, evm.address(DJ_A), result.result_hash, b.committee, attestations)
    assert escrow.bond_of(b.battle_id, silent) == 0 and escrow.burned() == BOND
    # the honest members' bonds come back at the deadline; the silent member has none left
    with pytest.raises(TransactionFailedError, match="stays until the deadline"):
        b.member(0).release_bond(b.battle_id, b.committee)
    evm.chain.advance_time(3601)
    for n in range(3):
        before = evm.chain.balance(address(b.keys[n]))
        receipt = b.member(n).release_bond(b.battle_id)
        fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
        assert evm.chain.balance(address(b.keys[n])) == before + BOND - fee
    with pytest.raises(TransactionFailedError, match="no seat bond held"):
        b.member(3).release_bond(b.battle_id)
    assert evm.chain.balance(evm.contracts.escrow) == BOND  # the burned bond, held for good


def test_a_payout_can_only_burn_what_the_members_attested(bonded: Bonded) -> None:
    b, evm = bonded, bonded.evm
    bond_and_fix(b)
    bundle = b.bundle()
    result = verify_result(bundle)
    honest = b.attest(bundle, range(3))  # no offences: nobody forfeits
    assert {a.forfeits for a in honest} == {()}
    escrow = evm.escrow(DJ_A)
    victim = address(b.keys[0])
    # a collector who names an honest member as forfeiting has no 2f+1 signatures for that claim
    call = escrow.contract.functions.payout(
        b.battle_id, evm.address(DJ_A), result.result_hash, [victim], b.committee,
        [a.signature.as_abi() for a in sorted(honest, key=lambda a: int(a.signer, 16))],
    )  # fmt: skip
    with pytest.raises(TransactionFailedError, match="not on the committee"):
        escrow._send().transact(call)
    # forfeits outside the committee are refused even when 2f+1 sign them
    outsider = address(member_key(9))
    rigged = [
        sign_result(b.keys[n], escrow.domain, b.battle_id, evm.address(DJ_A), result.result_hash, [outsider])
        for n in range(3)
    ]
    with pytest.raises(TransactionFailedError, match="not on the committee"):
        escrow.payout(b.battle_id, evm.address(DJ_A), result.result_hash, b.committee, rigged)
    escrow.payout(b.battle_id, evm.address(DJ_A), result.result_hash, b.committee, honest)
    assert escrow.bond_of(b.battle_id, victim) == BOND and escrow.burned() == 0


def test_anyone_can_prove_an_equivocating_member_and_burn_its_bond(bonded: Bonded) -> None:
    b, evm = bonded, bonded.evm
    bond_and_fix(b)
    bundle = b.bundle()
    result = verify_result(bundle)
    escrow = evm.escrow(SPONSOR)  # a bystander reports
    (first,) = b.attest(bundle, [1])
    second = sign_result(
        b.keys[1], escrow.domain, b.battle_id, evm.address(DJ_B), hashlib.sha256(b"another result").digest()
    )
    other_member = b.attest(bundle, [2])[0]
    # a different statement, but signed by member 2: it cannot frame member 1
    framed = sign_result(b.keys[2], escrow.domain, b.battle_id, evm.address(DJ_B), second.result_hash)
    with pytest.raises(ValueError, match="not two different"):
        escrow.report_equivocation(first, first)
    with pytest.raises(ValueError, match="not two different"):
        escrow.report_equivocation(first, other_member)
    # the contract itself refuses the same, and a claim signed by someone else
    contract = escrow.contract.functions
    with pytest.raises(TransactionFailedError, match="the same"):
        escrow._send().transact(
            contract.report_equivocation(b.battle_id, first.signer, first.claim(), first.claim())
        )
    with pytest.raises(TransactionFailedError, match="second attestation is not the member's"):
        escrow._send().transact(
            contract.report_equivocation(b.battle_id, first.signer, first.claim(), framed.claim())
        )
    receipt = escrow.report_equivocation(first, second)
    assert escrow.bond_of(b.battle_id, first.signer) == 0 and escrow.burned() == BOND
    burned = escrow.contract.events.BondBurned().process_receipt(receipt)
    assert [(e["args"]["member"], e["args"]["equivocation"]) for e in burned] == [(first.signer, True)]
    with pytest.raises(TransactionFailedError, match="no seat bond held"):
        escrow.report_equivocation(second, first)
    # the honest quorum still pays; the equivocator's bond is gone for good
    escrow.payout(
        b.battle_id, evm.address(DJ_A), result.result_hash, b.committee, b.attest(bundle, [0, 2, 3])
    )
    evm.chain.advance_time(3601)
    with pytest.raises(TransactionFailedError, match="no seat bond held"):
        b.member(1).release_bond(b.battle_id)


def test_a_battle_without_a_seat_bond_refuses_bonds(evm: Evm) -> None:
    battle_id = hashlib.sha256(b"no bond").digest()
    evm.escrow(DJ_A).open(battle_id, evm.address(DJ_B), evm.chain.timestamp() + 600)
    with pytest.raises(TransactionFailedError, match="asks no seat bond"):
        evm.escrow(SPONSOR).post_bond(battle_id, 1)


def test_members_attest_only_the_committee_the_djs_agreed_on_chain(bonded: Bonded) -> None:
    b, evm = bonded, bonded.evm
    bundle = b.bundle()
    with pytest.raises(LedgerError, match="not agreed on a committee"):
        b.attest(bundle, [0])
    for n in range(4):
        b.member(n).post_bond(b.battle_id, BOND)
    # the DJs fix another list (one member swapped for a bonded outsider): members refuse to attest
    stranger = escrow_of(evm, member_key(9))
    stranger.post_bond(b.battle_id, BOND)
    other = committee_order([*b.committee[:3], address(member_key(9))])
    evm.escrow(DJ_A).agree_committee(b.battle_id, other)
    evm.escrow(DJ_B).agree_committee(b.battle_id, other)
    with pytest.raises(LedgerError, match="not the result's"):
        b.attest(bundle, [0])
