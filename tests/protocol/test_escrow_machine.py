"""The escrow machine on a hand clock: what a member attests, which attestations count, when it pays,
whom it reports, and when stakes and bonds go back. Results are real verified bundles."""

from __future__ import annotations

import hashlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from djmesh.protocol.consensus import Result, build_result, verify_result
from djmesh.protocol.envelope import sign
from djmesh.protocol.escrow import (
    BUNDLE_GRACE_MS,
    FINALITY_MS,
    RETRY_MS,
    Attest,
    AttestationHeld,
    Drawn,
    Dropped,
    EntryRead,
    EscrowMachine,
    Joined,
    Pay,
    PostBond,
    Refund,
    ReleaseBond,
    Report,
    ResultHeld,
    Sent,
    Tick,
    Vanished,
)
from tests.protocol.battle_helpers import Battle, key, scores

DJ_A, DJ_B, OUTSIDER = "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "ee" * 20
DEADLINE_S = 5_000
SEAT_BOND = 10**17


def address(n: int) -> str:
    return f"0x{n + 1:040x}"


def result_of(battle: Battle, *, silent: int | None = None, unrevealed: int | None = None) -> Result:
    """A verified result won by DJ A; ``silent`` never revealed (``no_reveal``); ``unrevealed`` is left
    out of the bundle (a thinner bundle of the same battle)."""
    envelopes = list(battle.base())
    for n, m in enumerate(battle.members):
        sealed = battle.seal(m, scores(800, 600))
        envelopes.append(battle.commit(m, sealed))
        if n not in (silent, unrevealed):
            envelopes.append(battle.reveal(m, sealed))
    return verify_result(sign(build_result(envelopes), key(999), created_at_ms=battle.spec.reveal_by).wire)


_BATTLE = Battle(committee_size=4)
#: built once (verifying a bundle costs milliseconds): the full result and a thinner bundle of it
RESULTS = (result_of(_BATTLE), result_of(_BATTLE, unrevealed=2))


class Scene:
    def __init__(self, *, me: int | None = None, collect: bool | None = None) -> None:
        self.battle = Battle(committee_size=4)
        self.keys = tuple(bytes(m.verify_key) for m in self.battle.members)
        self.addresses = {k: address(n) for n, k in enumerate(self.keys)}
        my_key = self.keys[me] if me is not None else bytes(32)
        self.machine = EscrowMachine(
            battle_id=self.battle.id,
            dj_addresses={"a": DJ_A, "b": DJ_B},
            reveal_by_ms=self.battle.spec.reveal_by,
            me=my_key,
            my_address=self.addresses.get(my_key, DJ_A),
            collect=collect,
            settle_ms=1000,
        )
        self.now = self.battle.spec.reveal_by
        self.ids = 0

    def feed(self, event: object, advance_ms: int = 0) -> list[object]:
        self.now += advance_ms
        return list(self.machine.handle(event, self.now))  # type: ignore[arg-type]

    def entry(self, **changes: object) -> EntryRead:
        fields: dict[str, object] = {
            "chain_now_s": 1_000,
            "deadline_s": DEADLINE_S,
            "settled": False,
            "seat_bond": SEAT_BOND,
            "committee_fixed": True,
            "committee_agreed": True,
            "stake": 0,
            "bond": 0,
        }
        fields.update(changes)
        return EntryRead(**fields)  # type: ignore[arg-type]

    def drawn(self) -> Drawn:
        return Drawn(self.keys, dict(self.addresses))

    def attestation(
        self,
        member: int,
        result: Result,
        *,
        winner: str = DJ_A,
        signer: str | None = "member",
        forfeits: tuple[str, ...] = (),
        author: bytes | None = None,
    ) -> AttestationHeld:
        self.ids += 1
        return AttestationHeld(
            content_id=hashlib.sha256(b"att %d" % self.ids).digest(),
            author=author if author is not None else self.keys[member],
            winner=winner,
            result_hash=result.result_hash,
            forfeits=forfeits,
            signature=bytes(64) + b"\x1b",
            signer=address(member) if signer == "member" else signer,
        )


def of(kind: type, actions: list[object]) -> list[object]:
    return [a for a in actions if isinstance(a, kind)]


def test_a_member_attests_once_after_settling_and_only_the_committee_agreed_on_chain() -> None:
    s = Scene(me=0)
    full, thin = result_of(s.battle), result_of(s.battle, unrevealed=3)
    s.feed(s.drawn())
    assert s.feed(ResultHeld(thin)) == []
    assert s.machine.next_deadline() == s.now + 1000
    assert s.feed(Tick(), 999) == []  # still settling
    assert s.feed(Tick(), 1) == []  # settled, but the DJs have not fixed the committee on chain
    assert s.feed(s.entry(committee_agreed=False)) == []
    s.feed(ResultHeld(full))  # a better bundle arrives while waiting
    actions = s.feed(s.entry())
    assert actions == [Attest(full.result_hash, DJ_A, ())]  # the best held one, by preference
    s.feed(ResultHeld(result_of(s.battle, unrevealed=2)))
    assert of(Attest, s.feed(Tick(), 60_000)) == []  # once per battle: a second would be equivocation


def test_a_restarted_member_does_not_sign_a_second_statement() -> None:
    s = Scene(me=0)
    thin, full = result_of(s.battle, unrevealed=3), result_of(s.battle)
    # before the restart it signed the thinner result; its own attestation comes back from its store
    s.feed(s.drawn())
    s.feed(s.attestation(0, thin, forfeits=(address(3),)))
    s.feed(ResultHeld(full))
    s.feed(ResultHeld(thin))
    assert of(Attest, s.feed(s.entry(), 5_000)) == []
    assert s.machine.attested == thin.result_hash


def test_forfeits_name_the_no_reveal_member_and_wrong_ones_do_not_count() -> None:
    s = Scene(me=0, collect=True)
    result = result_of(s.battle, silent=3)
    s.feed(s.drawn())
    s.feed(s.entry())
    s.feed(ResultHeld(result))
    assert s.feed(Tick(), 1000) == [Attest(result.result_hash, DJ_A, (address(3),))]
    ok = [s.attestation(n, result, forfeits=(address(3),)) for n in (0, 1)]
    forgiving = s.attestation(2, result)  # leaves the silent member out of the forfeits
    for held in ok:
        assert of(Pay, s.feed(held)) == []
    dropped = of(Dropped, s.feed(forgiving))
    assert [d.reason for d in dropped] == ["its forfeits are not the members the result's offences name"]  # type: ignore[attr-defined]
    actions = s.feed(s.attestation(2, result, forfeits=(address(3),)))  # it corrects itself: two statements
    [pay] = of(Pay, actions)
    assert pay == Pay(result.result_hash, DJ_A, (address(3),), pay.attestations)  # type: ignore[attr-defined]
    assert [a.signer for a in pay.attestations] == [address(0), address(1), address(2)]  # type: ignore[attr-defined]
    # member 2 signed two different statements: the collector reports it
    [report] = of(Report, actions)
    assert {report.first.signer, report.second.signer} == {address(2)}  # type: ignore[attr-defined]
    assert of(Pay, s.feed(Tick(), 1000)) == []  # asked once; the node reports back
    assert of(Pay, s.feed(Sent("pay", ok=False))) == []  # a failed payout is tried again, not at once
    assert s.machine.next_deadline() == s.now + 10_000
    assert len(of(Pay, s.feed(Tick(), 10_000))) == 1
    s.feed(Sent("pay", ok=True))
    s.feed(s.entry(settled=True))
    assert of(Pay, s.feed(Tick())) == []


def test_the_collector_drops_forgeries_with_their_reason_and_waits_for_missing_bundles() -> None:
    s = Scene(collect=True)
    result = result_of(s.battle)
    other = result_of(s.battle, unrevealed=1)
    s.feed(s.drawn())
    s.feed(s.entry())
    s.feed(ResultHeld(result))
    forged = [
        s.attestation(0, result, author=bytes(key(500).verify_key)),  # an outsider
        s.attestation(1, result, signer=OUTSIDER),  # a member's envelope, someone else's signature
        s.attestation(2, result, winner=DJ_B),  # a member says the loser won
        s.attestation(3, result, winner=OUTSIDER),
        s.attestation(0, result, signer=None),
    ]
    reasons = [d.reason for e in forged for d in of(Dropped, s.feed(e))]  # type: ignore[attr-defined]
    assert reasons == [
        "its author is not on the committee",
        f"signed by {OUTSIDER}, not by the member's bound address {address(1)}",
        f"the result it signs names DJ A, not {DJ_B}",
        "it names neither DJ as the winner",
        "its signature is invalid",
    ]
    waiting = s.attestation(1, other)  # its bundle has not arrived
    assert s.feed(waiting) == []
    assert s.machine.next_deadline() == s.battle.spec.reveal_by + BUNDLE_GRACE_MS + 1
    late = s.feed(Tick(), BUNDLE_GRACE_MS + 1)
    assert [d.reason for d in of(Dropped, late)] == ["no verified bundle of the result it signs arrived"]  # type: ignore[attr-defined]


def test_an_equivocation_is_reported_only_where_a_bond_can_burn() -> None:
    s = Scene()  # a DJ's node (DJ A's address): it reports
    result = result_of(s.battle)
    s.feed(s.drawn())
    s.feed(ResultHeld(result))
    s.feed(s.attestation(1, result))
    s.feed(s.attestation(1, result, winner=DJ_B))
    assert of(Report, s.feed(s.entry(seat_bond=0))) == []  # nothing to burn: no transaction
    [report] = of(Report, s.feed(s.entry()))
    assert report.first.winner == DJ_A and report.second.winner == DJ_B  # type: ignore[attr-defined]
    assert of(Report, s.feed(s.attestation(1, result, winner=DJ_B, forfeits=(address(0),)))) == []
    # a framing attempt: another key's signature on a member's envelope is no statement of the member
    s.feed(s.attestation(2, result, signer=address(3), winner=DJ_B))
    assert set(s.machine.equivocators) == {address(1)}


def test_a_report_whose_transaction_failed_is_sent_again() -> None:
    """A DJ's node pays and reports from one wallet: a report lost to a nonce race must not be lost for good."""
    s = Scene()
    result = result_of(s.battle)
    s.feed(s.drawn())
    s.feed(ResultHeld(result))
    s.feed(s.attestation(1, result))
    s.feed(s.attestation(1, result, winner=DJ_B))
    [report] = of(Report, s.feed(s.entry()))
    action = f"report:{address(1)}"
    s.feed(Sent(action, ok=False))
    assert of(Report, s.feed(Tick(), RETRY_MS - 1)) == []  # not before the retry pause
    assert of(Report, s.feed(Tick(), 1)) == [report]
    s.feed(Sent(action, ok=True))
    assert of(Report, s.feed(Tick(), RETRY_MS)) == []  # once through, never again


def test_bonds_stakes_and_refunds_follow_the_chain_clock() -> None:
    s = Scene(me=3)
    s.feed(s.entry(committee_fixed=False, committee_agreed=False))
    assert of(PostBond, s.feed(Joined())) == [PostBond(SEAT_BOND)]
    assert of(PostBond, s.feed(Tick())) == []
    s.feed(Sent("bond", ok=True))
    s.feed(s.drawn())
    s.feed(s.entry(bond=SEAT_BOND, stake=5))
    assert of(Refund, s.feed(Tick())) == [] and of(ReleaseBond, s.feed(Tick())) == []  # seated: held
    at_deadline = s.feed(s.entry(bond=SEAT_BOND, stake=5, chain_now_s=DEADLINE_S))
    assert of(Refund, at_deadline) == [Refund()] and of(ReleaseBond, at_deadline) == [ReleaseBond(())]
    s.feed(Sent("refund", ok=True))
    s.feed(Sent("release", ok=True))
    assert not s.machine.finished  # the chain has not shown them yet
    s.feed(s.entry(chain_now_s=DEADLINE_S))
    assert not s.machine.finished  # a reorganisation could still drop them
    s.feed(Tick(), FINALITY_MS)
    assert s.machine.finished


def test_an_unseated_candidate_takes_its_bond_back_once_the_committee_is_fixed() -> None:
    s = Scene()
    s.machine.my_address = address(9)
    s.feed(s.drawn())
    actions = s.feed(s.entry(bond=SEAT_BOND))
    assert actions == [ReleaseBond(tuple(address(n) for n in range(4)))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(8)), repeats=st.lists(st.integers(0, 7), max_size=6))
def test_any_order_or_duplication_of_events_pays_the_honest_statement_once(
    order: list[int], repeats: list[int]
) -> None:
    s = Scene(collect=True)
    result, thin = RESULTS
    honest = [s.attestation(n, result) for n in range(4)]
    events: list[object] = [
        s.drawn(),
        s.entry(),
        ResultHeld(result),
        ResultHeld(thin),
        *honest[:3],
        s.attestation(3, result, winner=DJ_B),  # member 3 lies as well as (below) telling the truth
    ]
    sequence = [events[i] for i in order] + [events[i] for i in repeats] + [honest[3], Tick()]
    pays: list[object] = []
    reports: list[object] = []
    for event in sequence:
        actions = s.feed(event, 10)
        pays += of(Pay, actions)
        reports += of(Report, actions)
    assert len(pays) == 1
    assert (pays[0].result_hash, pays[0].winner, pays[0].forfeits) == (result.result_hash, DJ_A, ())  # type: ignore[attr-defined]
    assert len(pays[0].attestations) >= 3  # type: ignore[attr-defined]
    assert [(r.first.signer, r.second.signer) for r in reports] == [(address(3), address(3))]  # type: ignore[attr-defined]


def collector_ready() -> tuple[Scene, Result]:
    """DJ A's node (the winner collects) holding 2f+1 honest attestations: it asks for the payout."""
    s = Scene()
    result = result_of(s.battle)
    s.feed(s.drawn())
    s.feed(ResultHeld(result))
    for n in range(3):
        s.feed(s.attestation(n, result))
    return s, result


def test_a_payout_a_reorganisation_dropped_is_asked_again_but_not_for_one_stale_read() -> None:
    s, _ = collector_ready()
    [pay] = of(Pay, s.feed(s.entry(stake=5)))
    s.feed(Sent("pay", ok=True))
    # the read that began before the payout was mined still shows the entry open: not a reorganisation yet
    assert s.feed(s.entry(stake=5), 1000) == []
    s.feed(s.entry(settled=True, stake=5), 1000)  # mined
    assert s.feed(s.entry(settled=True, stake=5), 1000) == []
    # then a reorganisation drops it: two reads in a row without it, and it is asked for again
    assert s.feed(s.entry(stake=5), 1000) == []
    assert s.feed(s.entry(stake=5), 1000) == [Vanished("pay"), pay]
    assert not s.machine.finished


def test_a_refund_a_reorganisation_dropped_is_asked_again() -> None:
    s = Scene()
    past = {"chain_now_s": DEADLINE_S, "committee_agreed": False}
    assert of(Refund, s.feed(s.entry(stake=5, **past))) == [Refund()]
    s.feed(Sent("refund", ok=True))
    s.feed(s.entry(**past), 1000)
    s.feed(s.entry(stake=5, **past), 1000)  # the refund is gone again
    assert s.feed(s.entry(stake=5, **past), 1000) == [Vanished("refund"), Refund()]


def test_a_payout_whose_answer_was_lost_is_not_paid_twice_and_not_forgotten() -> None:
    s, _ = collector_ready()
    assert len(of(Pay, s.feed(s.entry(stake=5)))) == 1
    s.feed(Sent("pay", ok=False))  # the RPC timed out: mined or not, the node cannot tell
    assert of(Pay, s.feed(s.entry(stake=5), RETRY_MS - 1)) == []
    assert len(of(Pay, s.feed(Tick(), 1))) == 1  # asked again (the contract refuses a second payout)
    s.feed(Sent("pay", ok=False))
    s.feed(s.entry(settled=True, stake=5))  # the first one was mined after all
    assert of(Pay, s.feed(Tick(), RETRY_MS)) == []


@settings(max_examples=150, deadline=None)
@given(faults=st.lists(st.sampled_from(["refused", "answer lost", "reorganised", "ok"]), max_size=12))
def test_rpc_failures_and_reorganisations_end_in_exactly_one_payout_or_refund(faults: list[str]) -> None:
    """A chain that refuses, loses answers and reorganises transactions away, near the payout and the
    refund (the deadline falls mid-run): the entry ends paid or refunded, never both, never neither."""
    s, _ = collector_ready()
    chain = {"settled": False, "stake": 5, "payouts": 0, "refunds": 0}
    chain_now = DEADLINE_S - 2_000
    outcomes = iter(faults)
    reorganise: list[str] = []  # effects to drop before the next read
    for _ in range(60):
        for effect in reorganise:
            if effect == "pay":
                chain["settled"], chain["payouts"] = False, chain["payouts"] - 1
            else:
                chain["stake"], chain["refunds"] = 5, chain["refunds"] - 1
        reorganise = []
        read = s.entry(chain_now_s=chain_now, settled=chain["settled"], stake=chain["stake"])
        for action in s.feed(read, RETRY_MS):
            name = "pay" if isinstance(action, Pay) else "refund" if isinstance(action, Refund) else None
            if name is None:
                continue
            outcome = next(outcomes, "ok")
            allowed = (
                chain_now < DEADLINE_S and not chain["settled"]
                if name == "pay"
                else chain_now >= DEADLINE_S and not chain["settled"] and chain["stake"] > 0
            )  # what the contract checks
            if outcome != "refused" and allowed:
                if name == "pay":
                    chain["settled"], chain["payouts"] = True, chain["payouts"] + 1
                else:
                    chain["stake"], chain["refunds"] = 0, chain["refunds"] + 1
                if outcome == "reorganised":
                    reorganise.append(name)
            s.feed(Sent(name, ok=allowed and outcome in ("ok", "reorganised")))
        chain_now += 200
    assert chain["payouts"] + chain["refunds"] == 1, (chain, faults)


def test_a_paying_node_without_a_quorum_awaits_attestations_until_one_comes() -> None:
    """What makes the node fetch the battle's topic again: gossip never resends an attestation it lost."""
    s = Scene()  # DJ A's node: it pays when A wins, and reports
    result = result_of(s.battle)
    s.feed(s.drawn())
    assert not s.machine.awaits_attestations  # nothing read from the chain yet
    s.feed(s.entry(committee_agreed=False))
    s.feed(ResultHeld(result))
    assert not s.machine.awaits_attestations  # no member attests a committee not fixed on chain
    s.feed(s.entry())
    for n in range(2):
        s.feed(s.attestation(n, result))
        assert s.machine.awaits_attestations
    s.feed(s.attestation(2, result))
    assert not s.machine.awaits_attestations  # 2f+1: the payout goes out
    late = Scene()
    late.feed(late.drawn())
    late.feed(ResultHeld(result_of(late.battle)))
    late.feed(late.entry(chain_now_s=DEADLINE_S))
    assert not late.machine.awaits_attestations  # past the deadline only refunds are left
    viewer = Scene(me=3)  # a member that neither pays nor reports fetches nothing more
    viewer.feed(viewer.drawn())
    viewer.feed(ResultHeld(result_of(viewer.battle)))
    viewer.feed(viewer.entry())
    assert not viewer.machine.awaits_attestations
