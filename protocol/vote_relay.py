"""The vote relayer's checks as a sans-IO machine: what it answers, what it refuses before spending gas,
and which nullifiers it holds back from a second relay.

``RelayMachine`` holds no wallet, chain or stream. The node feeds it a request's bytes (``Request``),
then the outcome of each chain step it asked for (``Preflighted``, ``Submitted``, ``TxFailed``), with an
explicit ``now_ms``, and carries out what it returns: ``Preflight`` (the chain's own checks as an
``eth_call``, plus the relayer's gas money), ``Submit`` (send the vote from the relayer's wallet),
``Watch`` (follow the transaction) and ``Reply`` (the answer to the request). The rules, cheapest first:

- a stopped relayer, then a peer over its rate, then a malformed request are refused at once;
- ``info`` is answered with the relayer's address, chain and gate;
- a vote whose nullifier this relayer relayed or saw spent is refused without a chain call; otherwise
  the nullifier is claimed (a concurrent copy of the vote is refused too) and the chain checks follow;
  a refusal or a failed send gives the claim back, except "nullifier already used" (spent for good);
- a transaction that fails after sending gives the nullifier back if the chain says it is unused, so the
  listener can try another relayer.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.ratelimit import RateLimit
from djmesh.protocol.votes import (
    InfoRequest,
    RelayInfo,
    RelayLimiter,
    RelayRefused,
    RelayReply,
    VoteRequest,
    VoteSubmitted,
    decode_request,
)

#: nullifiers a relayer remembers (relayed or seen spent) so it refuses them without a chain call
REMEMBERED_NULLIFIERS = 100_000
SPENT = "nullifier already used"


@dataclass(frozen=True)
class Request:
    """A peer's request bytes; ``request_id`` names it in the actions and events that follow."""

    request_id: int
    peer: str
    data: bytes


@dataclass(frozen=True)
class Preflighted:
    """The chain's checks of a vote: None (it would pass) or the refusal, and whether another relayer
    may do better (``retry``: e.g. this relayer lacks gas money, or its chain node failed)."""

    request_id: int
    refusal: str | None
    retry: bool = False


@dataclass(frozen=True)
class Submitted:
    """The vote transaction was sent (``tx_hash``), or could not be (``failure``)."""

    request_id: int
    tx_hash: bytes | None
    failure: str = ""


@dataclass(frozen=True)
class TxFailed:
    """A relayed transaction did not count the vote; ``unused``: the chain says the nullifier is free."""

    nullifier: int
    unused: bool


RelayEvent = Request | Preflighted | Submitted | TxFailed


@dataclass(frozen=True)
class Reply:
    request_id: int
    reply: RelayReply


@dataclass(frozen=True)
class Preflight:
    request_id: int
    request: VoteRequest


@dataclass(frozen=True)
class Submit:
    request_id: int
    request: VoteRequest


@dataclass(frozen=True)
class Watch:
    tx_hash: bytes
    nullifier: int


@dataclass(frozen=True)
class Logged:
    """Worth a line in the log (a refusal's cause, a relayed vote)."""

    text: str


RelayAction = Reply | Preflight | Submit | Watch | Logged


@dataclass
class RelayMachine:
    """One relayer's vote-relay rules. ``info`` is what it answers an ``info`` request with."""

    info: RelayInfo
    rate_limit: RateLimit | None = None
    serving: bool = True
    relayed_count: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # refusals by reason
    nullifiers: OrderedDict[int, None] = field(default_factory=OrderedDict)  # relayed or seen spent
    in_progress: dict[int, tuple[str, VoteRequest]] = field(default_factory=dict)  # request -> (peer, vote)

    def __post_init__(self) -> None:
        self.limiter = RelayLimiter(self.rate_limit)

    def handle(self, event: RelayEvent, now_ms: int) -> list[RelayAction]:
        if isinstance(event, Request):
            return self._request(event, now_ms)
        if isinstance(event, Preflighted):
            return self._preflighted(event)
        if isinstance(event, Submitted):
            return self._submitted(event)
        if not event.unused:
            return []
        self.nullifiers.pop(event.nullifier, None)  # the listener may use another relayer
        return [Logged(f"relayed vote failed; nullifier {event.nullifier:#x} is free again")]

    def next_deadline(self) -> int | None:
        """No deadlines: every step waits on an event (the rate limiter refills by the clock it is given)."""
        return None

    def stop(self) -> None:
        self.serving = False

    def abandon(self, request_id: int) -> None:
        """The node could not finish a request (an unexpected error): give its nullifier claim back."""
        found = self.in_progress.pop(request_id, None)
        if found is not None:
            self.nullifiers.pop(found[1].nullifier, None)

    # ---- steps --------------------------------------------------------------------------------------

    def _refuse(self, request_id: int, reason: str, *, retry: bool) -> Reply:
        kind = reason.split(":", 1)[0]
        self.refused[kind] = self.refused.get(kind, 0) + 1
        return Reply(request_id, RelayRefused.because(reason, retry=retry))

    def _remember(self, nullifier: int) -> None:
        self.nullifiers[nullifier] = None
        self.nullifiers.move_to_end(nullifier)
        while len(self.nullifiers) > REMEMBERED_NULLIFIERS:
            self.nullifiers.popitem(last=False)

    def _request(self, event: Request, now_ms: int) -> list[RelayAction]:
        rid = event.request_id
        if not self.serving:
            return [self._refuse(rid, "relay stopped", retry=True)]
        if not self.limiter.allow(event.peer, now_ms):
            return [
                Logged(f"vote relay request from {event.peer[-8:]} refused: over its rate"),
                self._refuse(rid, "rate limited: too many requests from this peer", retry=True),
            ]
        try:
            request = decode_request(event.data)
        except ProtocolError as exc:
            return [
                Logged(f"malformed vote relay request from {event.peer[-8:]}: {exc}"),
                self._refuse(rid, f"malformed request: {exc}", retry=False),
            ]
        if isinstance(request, InfoRequest):
            return [Reply(rid, self.info)]
        if request.nullifier in self.nullifiers:
            return [self._refuse(rid, SPENT, retry=False)]
        self._remember(request.nullifier)  # claimed now, so a concurrent copy of this vote is refused too
        self.in_progress[rid] = (event.peer, request)
        return [Preflight(rid, request)]

    def _preflighted(self, event: Preflighted) -> list[RelayAction]:
        found = self.in_progress.get(event.request_id)
        if found is None:
            return []
        _, request = found
        if event.refusal is None:
            return [Submit(event.request_id, request)]
        del self.in_progress[event.request_id]
        if event.refusal != SPENT:
            self.nullifiers.pop(request.nullifier, None)  # refused: the claim goes back
        return [self._refuse(event.request_id, event.refusal, retry=event.retry)]

    def _submitted(self, event: Submitted) -> list[RelayAction]:
        found = self.in_progress.pop(event.request_id, None)
        if found is None:
            return []
        peer, request = found
        if event.tx_hash is None:
            self.nullifiers.pop(request.nullifier, None)
            return [self._refuse(event.request_id, f"relayer could not send: {event.failure}", retry=True)]
        self.relayed_count += 1
        return [
            Logged(
                f"relayed a vote in {request.battle_id.hex()[:12]} for {peer[-8:]} (tx 0x{event.tx_hash.hex()})"
            ),
            Watch(event.tx_hash, request.nullifier),
            Reply(event.request_id, VoteSubmitted(event.tx_hash, request.nullifier)),
        ]


__all__ = [
    "REMEMBERED_NULLIFIERS",
    "Logged",
    "Preflight",
    "Preflighted",
    "RelayAction",
    "RelayEvent",
    "RelayMachine",
    "Reply",
    "Request",
    "Submit",
    "Submitted",
    "TxFailed",
    "Watch",
]
