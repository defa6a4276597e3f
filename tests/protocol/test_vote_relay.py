"""The vote relayer's checks on a hand clock: cheap refusals first, nullifier claims, and what a failed
chain step gives back."""

from __future__ import annotations

from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.vote_relay import (
    REMEMBERED_NULLIFIERS,
    Logged,
    Preflight,
    Preflighted,
    RelayMachine,
    Reply,
    Request,
    Submit,
    Submitted,
    TxFailed,
    Watch,
)
from djmesh.protocol.votes import InfoRequest, RelayInfo, RelayRefused, VoteRequest, VoteSubmitted

INFO = RelayInfo("0x" + "ab" * 20, 31337, "0x" + "cd" * 20)
PEER = "12D3KooWPeer"


def vote(nullifier: int) -> VoteRequest:
    return VoteRequest(b"\x07" * 32, 1, 12345, nullifier, tuple(range(1, 9)))


def replies(actions: list[object]) -> list[object]:
    return [a.reply for a in actions if isinstance(a, Reply)]


def test_info_rate_and_shape_are_answered_without_a_chain_step() -> None:
    relay = RelayMachine(INFO, RateLimit(burst=3, per_second=1))
    assert replies(relay.handle(Request(1, PEER, InfoRequest().encode()), 0)) == [INFO]
    [malformed] = replies(relay.handle(Request(2, PEER, b"\xff not cbor"), 0))
    assert isinstance(malformed, RelayRefused) and not malformed.retry
    assert malformed.reason.startswith("malformed request")
    relay.handle(Request(3, PEER, InfoRequest().encode()), 0)
    [limited] = replies(relay.handle(Request(4, PEER, InfoRequest().encode()), 0))
    assert limited == RelayRefused.because("rate limited: too many requests from this peer", retry=True)
    assert replies(relay.handle(Request(5, PEER, InfoRequest().encode()), 1000)) == [INFO]  # refilled
    relay.stop()
    [stopped] = replies(relay.handle(Request(6, PEER, InfoRequest().encode()), 5000))
    assert stopped == RelayRefused.because("relay stopped", retry=True)


def test_a_vote_is_claimed_checked_sent_and_watched() -> None:
    relay = RelayMachine(INFO)
    request = vote(99)
    [preflight] = relay.handle(Request(1, PEER, request.encode()), 0)
    assert preflight == Preflight(1, request)
    # a concurrent copy of the same vote is refused while the first is in progress
    assert replies(relay.handle(Request(2, "other", request.encode()), 0)) == [
        RelayRefused.because("nullifier already used", retry=False)
    ]
    assert relay.handle(Preflighted(1, None), 0) == [Submit(1, request)]
    actions = relay.handle(Submitted(1, b"\x11" * 32), 0)
    assert [type(a) for a in actions] == [Logged, Watch, Reply]
    assert replies(actions) == [VoteSubmitted(b"\x11" * 32, 99)] and relay.relayed_count == 1
    # the transaction failed and the chain says the nullifier is still free: another relayer may send it
    relay.handle(TxFailed(99, unused=True), 0)
    assert relay.handle(Request(3, PEER, request.encode()), 0) == [Preflight(3, request)]


def test_refusals_give_the_claim_back_except_a_spent_nullifier() -> None:
    relay = RelayMachine(INFO)
    relay.handle(Request(1, PEER, vote(5).encode()), 0)
    assert replies(relay.handle(Preflighted(1, "invalid proof"), 0)) == [
        RelayRefused.because("invalid proof", retry=False)
    ]
    assert relay.handle(Request(2, PEER, vote(5).encode()), 0) == [Preflight(2, vote(5))]  # claim given back
    relay.handle(Preflighted(2, "relayer has too little ETH for gas", retry=True), 0)
    assert relay.refused == {"invalid proof": 1, "relayer has too little ETH for gas": 1}
    relay.handle(Request(3, PEER, vote(5).encode()), 0)
    assert replies(relay.handle(Submitted(3, None, "nonce too low"), 0)) == [
        RelayRefused.because("relayer could not send: nonce too low", retry=True)
    ]
    relay.handle(Request(4, PEER, vote(5).encode()), 0)
    relay.handle(Preflighted(4, "nullifier already used"), 0)
    # spent on chain: refused from memory from now on, no chain step
    assert replies(relay.handle(Request(5, PEER, vote(5).encode()), 0)) == [
        RelayRefused.because("nullifier already used", retry=False)
    ]
    # an unexpected error on the node's side gives the claim back too
    relay.handle(Request(6, PEER, vote(6).encode()), 0)
    relay.abandon(6)
    assert relay.handle(Request(7, PEER, vote(6).encode()), 0) == [Preflight(7, vote(6))]
    assert relay.next_deadline() is None


def test_the_remembered_nullifiers_are_bounded() -> None:
    relay = RelayMachine(INFO, RateLimit(burst=10**9, per_second=10**9))
    for n in range(REMEMBERED_NULLIFIERS + 10):
        relay.nullifiers[n] = None
    relay.handle(Request(1, PEER, vote(REMEMBERED_NULLIFIERS + 10).encode()), 0)
    assert len(relay.nullifiers) == REMEMBERED_NULLIFIERS
    assert 0 not in relay.nullifiers  # the oldest went first
