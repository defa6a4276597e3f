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
from collections.abc import Callable
from dataclasses import dataclass, field

from djmesh.node.clock import monotonic
from djmesh.node.live.transport import ControlMessage, Link, Transport, read, send
from djmesh.protocol.relay import Accept, Address, Candidate, Join, ProbeOk, Redirect, RelayMessage
from djmesh.protocol.relay import Probe as ProbeMessage

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
REPARENT_PROBE_TIMEOUT_S = 1.0  # an orphan does not wait as long on a candidate: it may be dead too
HOP_PENALTY_MS = 10.0
GRACE_S = 0.15


class PendingLink:
    """Queues what a link says until its owner takes over (probe, join, redirect); malformed messages are dropped."""

    def __init__(self) -> None:
        self.messages: asyncio.Queue[RelayMessage | None] = asyncio.Queue()

    def on_datagram(self, link: Link, data: bytes) -> None:
        pass

    def on_control(self, link: Link, value: ControlMessage) -> None:
        message = read(link, value)
        if message is not None:
            self.messages.put_nowait(message)

    def on_closed(self, link: Link, reason: str) -> None:
        self.messages.put_nowait(None)

    async def next(self, timeout_s: float) -> RelayMessage | None:
        try:
            return await asyncio.wait_for(self.messages.get(), timeout_s)
        except TimeoutError:
            return None

    def drain(self) -> list[RelayMessage]:
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
) -> Probe | None:
    """Dial ``address`` and ask for its depth and room; with ``join``, ask to be taken too (both in one flight)."""
    pending = PendingLink()
    try:
        link = await transport.connect(address, pending, timeout_s=timeout_s)
    except (OSError, TimeoutError, ConnectionError) as exc:
        log.info("probe %s: cannot connect (%s)", address, exc)
        return None
    start = monotonic()
    send(link, ProbeMessage(stream, marks, gone))
    if join is not None:
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
) -> list[Probe]:
    """Probe up to 4 candidates at once; best first (one that took us, then those with room).

    Once one answers, the others get a short grace period: a dead candidate must not hold up
    a re-parenting listener for the whole connect timeout. Until one with room answers, those a full
    one redirects to are waited for beyond it (each within ``timeout_s``): their answer is on its way and
    is where the next round would go, and a candidate probed is not probed again in the same attach.
    With ``join``, the first ``join_first`` candidates are asked to take us with the probe, and the first
    to accept ends the wait.
    """
    tasks = {
        asyncio.ensure_future(
            probe(
                transport,
                a,
                stream,
                marks,
                gone,
                join() if join is not None and i < join_first else None,
                timeout_s,
            )
        ): a
        for i, a in enumerate(addresses[:4])
    }
    probes: list[Probe] = []
    pending: set[asyncio.Future[Probe | None]] = set(tasks)
    deadline: float | None = None
    redirected: set[Address] = set()  # where the full ones answered so far send us
    room = False  # one with room (or that took us) answered
    while pending:
        timeout = None if deadline is None else max(0.0, deadline - monotonic())
        done, pending = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            if room:
                break
            awaited = {task for task in pending if tasks[task] in redirected}
            if not awaited:
                break
            for task in pending - awaited:
                task.cancel()
                task.add_done_callback(_close_late)
            pending, deadline = awaited, None
            continue
        for task in done:
            result = None if task.cancelled() or task.exception() else task.result()
            if result is not None:
                probes.append(result)
                if result.accepted:
                    room, deadline = True, monotonic()  # taken: no reason to wait for the others
                elif result.live:  # one not live has nothing for us
                    if result.free > 0:
                        room = True
                    else:
                        redirected.update(c.address for c in result.redirects)
                    if deadline is None:
                        deadline = monotonic() + max(GRACE_S, 2 * result.rtt_ms / 1000)
    for task in pending:
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
