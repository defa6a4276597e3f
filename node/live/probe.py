"""Choosing a parent: dial candidates, measure round trips, pick by latency and hops among those with room.

A re-parenting orphan may send its ``join`` right behind the ``probe`` on the same link to its first few
candidates (``join_first``): a node answers both in one flight, so a candidate with room takes the orphan
a round trip sooner, and the first one to accept ends the round at once. The rest are hung up on, so the
extra slots taken are held for about a round trip; the fan-out is bounded by ``join_first``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from djmesh.node.clock import monotonic
from djmesh.node.live.transport import ControlMessage, Link, Transport, read, send
from djmesh.protocol.relay import Accept, Address, Candidate, Join, Pay, ProbeOk, Redirect, RelayMessage
from djmesh.protocol.relay import Probe as ProbeMessage

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
REPARENT_PROBE_TIMEOUT_S = 1.0  # an orphan does not wait as long on a candidate: it may be dead too
HOP_PENALTY_MS = 10.0
GRACE_S = 0.15


MAX_PENDING = 64  # messages queued on a link nobody reads yet (a standby's): beyond, dropped
# frames a node that just took us sent before the subscription took the link over (the newest are kept)
MAX_PENDING_DATAGRAMS = 16


class PendingLink:
    """Queues what a link says until its owner takes over (probe, join, redirect); malformed messages are dropped.

    Bounded: a standby link (see ``Subscription``) is held for minutes, and its peer may send anything.
    Frames are kept too: a parent forwards them from the moment it accepts us, and on a busy event loop the
    subscription took the link over some 50 ms later (bench/hostile.py): dropped, they were missing from playout.
    """

    def __init__(self) -> None:
        self.messages: asyncio.Queue[RelayMessage | None] = asyncio.Queue(MAX_PENDING + 1)
        self.datagrams: deque[bytes] = deque(maxlen=MAX_PENDING_DATAGRAMS)

    def on_datagram(self, link: Link, data: bytes) -> None:
        self.datagrams.append(data)

    def on_control(self, link: Link, value: ControlMessage) -> None:
        message = read(link, value)
        if message is not None and self.messages.qsize() < MAX_PENDING:
            self.messages.put_nowait(message)

    def on_closed(self, link: Link, reason: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.messages.put_nowait(None)

    async def next(self, timeout_s: float) -> RelayMessage | None:
        try:
            return await asyncio.wait_for(self.messages.get(), timeout_s)
        except TimeoutError:
            return None

    def take_datagrams(self) -> list[bytes]:
        out = list(self.datagrams)
        self.datagrams.clear()
        return out

    def drain(self) -> list[RelayMessage]:
        """The messages queued (the frames queued are dropped: take them first if they are wanted)."""
        self.datagrams.clear()
        out = []
        while not self.messages.empty():
            message = self.messages.get_nowait()
            if message is not None:
                out.append(message)
        return out


@dataclass
class Probe:
    address: Address
    link: Link
    pending: PendingLink
    rtt_ms: float
    hops: int
    free: int
    live: bool
    redirects: list[Candidate] = field(default_factory=list)  # a full node's children with room
    answer: Accept | Redirect | None = None  # what a join sent with the probe got (None: none sent)

    @property
    def accepted(self) -> bool:
        return isinstance(self.answer, Accept)

    @property
    def score(self) -> tuple[int, int, float]:
        return (
            0 if self.accepted else 1,
            0 if self.free > 0 else 1,
            self.rtt_ms + HOP_PENALTY_MS * self.hops,
        )


async def probe(
    transport: Transport,
    address: Address,
    stream: bytes,
    marks: tuple[Address, ...] = (),
    gone: Address | None = None,
    join: Join | None = None,
    timeout_s: float = PROBE_TIMEOUT_S,
    standby: tuple[Link, PendingLink] | None = None,
    pay: bytes | None = None,
) -> Probe | None:
    """Dial ``address`` and ask for its depth and room; with ``join``, ask to be taken too (both in one flight).

    ``standby``: a link to ``address`` already open (and its queue): no connect, what it said before is dropped.
    ``pay``: a priced stream's latest voucher, sent ahead of the join (a DJ refuses a listener behind on payments).
    """
    if standby is not None and not standby[0].closed:
        link, pending = standby
        pending.drain()
    else:
        pending = PendingLink()
        try:
            link = await transport.connect(address, pending, timeout_s=timeout_s)
        except (OSError, TimeoutError, ConnectionError) as exc:
            log.info("probe %s: cannot connect (%s)", address, exc)
            return None
    start = monotonic()
    send(link, ProbeMessage(stream, marks, gone))
    if join is not None:
        if pay is not None:
            send(link, Pay(pay))
        send(link, join)
    answer: Accept | Redirect | None = None
    try:
        while True:
            reply = await pending.next(timeout_s)
            if reply is None:
                link.close("no probe answer")
                return None
            if isinstance(reply, ProbeOk):
                break
            if isinstance(reply, Redirect):  # the node does not carry this stream
                link.close("does not carry the stream")
                return None
        rtt_ms = (monotonic() - start) * 1000.0
        while join is not None and answer is None:  # the join's answer comes in the same flight
            message = await pending.next(timeout_s)
            if message is None:
                link.close("no join answer")
                return None
            if isinstance(message, (Accept, Redirect)):
                answer = message
    except asyncio.CancelledError:
        link.close("probe abandoned")
        raise
    redirects = list(reply.candidates)
    return Probe(address, link, pending, rtt_ms, reply.hops, reply.free, reply.live, redirects, answer)


async def probe_all(
    transport: Transport,
    addresses: list[Address],
    stream: bytes,
    marks: tuple[Address, ...] = (),
    gone: Address | None = None,
    join: Callable[[], Join] | None = None,
    join_first: int = 0,
    timeout_s: float = PROBE_TIMEOUT_S,
    standby: dict[Address, tuple[Link, PendingLink]] | None = None,
    abandoned: set[Address] | None = None,
    pay: bytes | None = None,
) -> list[Probe]:
    """Probe up to 4 candidates at once; best first (one that took us, then those with room).

    Once one answers, the others get a short grace period: a dead candidate must not hold up
    a re-parenting listener for the whole connect timeout. Those cut off are added to ``abandoned``:
    not answering in time says nothing against them (a full one may redirect us to one on its way).
    With ``join``, the first ``join_first`` candidates are asked to take us with the probe, and the first
    to accept ends the wait. ``standby``: links already open to some of them (used instead of a connect).
    """
    standby = standby or {}
    tasks: dict[asyncio.Future[Probe | None], Address] = {
        asyncio.ensure_future(
            probe(
                transport,
                a,
                stream,
                marks,
                gone,
                join() if join is not None and i < join_first else None,
                timeout_s,
                standby.get(a),
                pay,
            )
        ): a
        for i, a in enumerate(addresses[:4])
    }
    probes: list[Probe] = []
    pending: set[asyncio.Future[Probe | None]] = set(tasks)
    deadline: float | None = None
    while pending:
        timeout = None if deadline is None else max(0.0, deadline - monotonic())
        done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            break
        for task in [t for t in tasks if t in done]:  # in the candidates' order, not the set's (ids)
            result = None if task.cancelled() or task.exception() else task.result()
            if result is not None:
                probes.append(result)
                if result.accepted:
                    deadline = monotonic()  # taken: no reason to wait for the others
                elif deadline is None and result.live:  # one not live has nothing for us
                    deadline = monotonic() + max(GRACE_S, 2 * result.rtt_ms / 1000)
    for task in [t for t in tasks if t in pending]:
        if abandoned is not None:
            abandoned.add(tasks[task])
        task.cancel()
        task.add_done_callback(_close_late)
    return sorted(probes, key=lambda p: p.score)


def _close_late(task: asyncio.Future[Probe | None]) -> None:
    """A probe that answered after we stopped waiting: hang up."""
    if not task.cancelled() and task.exception() is None and (result := task.result()) is not None:
        result.link.close("too slow")


def close_all(probes: list[Probe], keep: Link | None = None) -> None:
    for item in probes:
        if item.link is not keep:
            with contextlib.suppress(Exception):
                item.link.close("not chosen")
