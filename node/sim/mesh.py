"""The live relay tree in one process: a DJ and many listeners on a ``SimNetwork``, on virtual time.

Every listener runs the real relay-tree code: ``Subscription`` (probes, join, redirects, NACK
recovery, re-parenting), its ``StreamHub`` (admission, redirects, keepalives, resends) and the live
service's ``_Acceptor`` for inbound links. What stands in for the rest of a node:

- the DJ is a ``StreamHub`` fed by a pacer that signs real segments (``SegmentSigner``) over
  stand-in Opus payloads, instead of ``Broadcast``'s capture thread (a thread has no place on
  virtual time);
- ``locate`` does what ``LiveService.locate`` does over libp2p (ask the DJ and ``LOCATE_PEERS``
  connected peers; each answers with itself if it carries the stream, then its children with
  room) with the path's round trip as the request's cost, and ``LiveService._ask``'s 10 s
  timeout for a peer that is down or cut off.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import nacl.signing

from djmesh.node.clock import monotonic, now_ms, now_us
from djmesh.node.live.codec import SAMPLE_RATE
from djmesh.node.live.hub import Address, StreamHub
from djmesh.node.live.service import DEFAULT_MAX_CHILDREN, LOCATE_PEERS, _Acceptor
from djmesh.node.live.sets import SetSegment
from djmesh.node.live.sinks import NullSink
from djmesh.node.live.subscription import Subscription
from djmesh.node.live.transport import Link
from djmesh.node.sim.network import LISTEN_PORT, SimListener, SimNetwork
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.stream import Frame, Playout, SegmentManifest, SegmentSigner, StreamAnnounce

if TYPE_CHECKING:
    from djmesh.node.live.service import LiveService

log = logging.getLogger(__name__)

ASK_TIMEOUT_S = 10.0  # LiveService._ask: a libp2p request to a peer that does not answer
LATENCY_BINS_MS = 10_000
OPUS_128K_BYTES = 320  # one 20 ms frame at 128 kbit/s
FRAME_SAMPLES = SAMPLE_RATE // 50  # the stream's 20 ms frames, as a device plays them
# What a real node's code costs a frame on its way, measured on real processes (bench/scale_calibrate.py, 8 nodes
# 3 deep on loopback, BENCHMARKS.md): a relay hop adds 0.1-0.7 ms to the median capture -> arrival time (the
# links ~0.05 ms), the DJ's own hop (capture, Opus, signing, its send path) ~1.5 ms, 0.6 ms at least, ~3 ms at p95.
# Uniform ranges for ``LinkProfile.hop_s`` (every packet a node sends) and ``LiveMesh``'s ``source_s``.
REAL_HOP_S = (0.0001, 0.0009)
REAL_SOURCE_S = (0.0005, 0.0025)


class Meter:
    """A listener's tap: when audio started, how long the silences were, what the record kept."""

    def __init__(self, mesh: LiveMesh) -> None:
        self._mesh = mesh
        self.first_audio_at: float | None = None
        self.last_audio_us: int | None = None
        self.max_gap_us = 0
        self.played = 0
        self.concealed = 0
        self.segments = 0
        self.record_frames = 0
        self.record_lost = 0
        # when set, a sound device's queue is fed too (its gaps: what a listener hears)
        self.device: NullSink | None = None

    def on_playout(self, item: Playout, now_us: int) -> None:
        if self.device is not None:
            self.device.skip(FRAME_SAMPLES)  # concealed frames too: the decoder fills them in
        if item.payload is None:
            self.concealed += 1
            return
        self.played += 1
        if self.last_audio_us is not None:
            self.max_gap_us = max(self.max_gap_us, now_us - self.last_audio_us)
        self.last_audio_us = now_us
        if self.first_audio_at is None:
            self.first_audio_at = monotonic()
        histogram = self._mesh.latency_ms
        if histogram is not None:
            histogram[min(LATENCY_BINS_MS - 1, max(0, (now_us - item.ts_us) // 1000))] += 1

    def on_segment(self, segment: SetSegment) -> None:
        self.segments += 1
        self.record_frames += len(segment.frames)
        self.record_lost += sum(frame is None for frame in segment.frames)

    def on_end(self, error: str | None) -> None:
        pass

    def mark(self) -> None:
        """Measure silences from now on (the one under way counts from the last audible frame)."""
        self.max_gap_us = 0

    def hearing(self, now_us: int, within_s: float = 0.5) -> bool:
        """Whether audio played within the last ``within_s`` seconds."""
        return self.last_audio_us is not None and now_us - self.last_audio_us <= within_s * 1e6

    def gap_s(self, now_us: int) -> float:
        """The longest silence since ``mark``, counting one still under way."""
        if self.last_audio_us is None:
            return float("inf")
        return max(self.max_gap_us, now_us - self.last_audio_us) / 1e6


class MeshNode:
    """One host's live service, cut down to the relay tree: inbound links, the stream's hub, a subscription."""

    def __init__(self, mesh: LiveMesh, host: str, *, max_children: int) -> None:
        self.mesh = mesh
        self.host = host
        self.address: Address = (host, LISTEN_PORT)
        self.transport = mesh.network.transport(host)
        self.max_children = max_children
        self.max_inbound = 4 * max_children + 64  # as LiveService
        self.peers: list[MeshNode] = []  # the libp2p peers it is connected to (asked by locate)
        self.hub: StreamHub | None = None  # the DJ's root hub
        self.subscription: Subscription | None = None
        self.meter = Meter(mesh)
        self.join_started: float | None = None
        self.join_error: str | None = None
        self.crashed = False
        self.verified_playout = False
        self._inbound: dict[int, Link] = {}
        self._listener: SimListener | None = None

    async def start(self) -> None:
        self._listener = await self.transport.listen("0.0.0.0", self._on_link)

    def _on_link(self, link: Link) -> None:
        """As ``LiveService._on_link``: bounded inbound links, each handled by the live acceptor."""
        self._inbound = {key: known for key, known in self._inbound.items() if not known.closed}
        if len(self._inbound) >= self.max_inbound:
            link.close("too many links")
            return
        self._inbound[id(link)] = link
        link.handler = _Acceptor(cast("LiveService", self))

    def hub_for(self, stream: bytes) -> StreamHub | None:
        """As ``LiveService.hub_for``."""
        if self.hub is not None and self.hub.stream == stream:
            return self.hub
        subscription = self.subscription
        if (
            subscription is not None
            and subscription.stream == stream
            and subscription.parent is not None
            and subscription.error is None
        ):
            return subscription.hub
        return None

    @property
    def joined(self) -> bool:
        return self.meter.first_audio_at is not None

    async def join(self, announce: SignedEnvelope) -> None:
        """Subscribe as ``LiveService._subscribe`` does: locate, then attach and run."""
        self.join_started = monotonic()
        try:
            candidates = await self.mesh.locate(self, announce.content_id)
            subscription = Subscription(
                announce,
                transport=self.transport,
                own_address=self.address,
                max_children=self.max_children,
                locate=lambda stream: self.mesh.locate(self, stream),
                recording=None,
                verified_playout=self.verified_playout,
            )
            subscription.taps.add(self.meter)
            await subscription.start(candidates)
            self.subscription = subscription
        except (ConnectionError, OSError) as exc:
            self.join_error = str(exc)
            log.info("%s: join failed: %s", self.host, exc)

    async def stop(self) -> None:
        """Close what this host runs (after a crash nothing of it reaches the network)."""
        if self._listener is not None:
            self._listener.close()
        if self.subscription is not None:
            await self.subscription.close()


class LiveMesh:
    """One stream, its DJ and its listeners on one network."""

    def __init__(
        self,
        network: SimNetwork,
        *,
        seed: int,
        max_children: int = DEFAULT_MAX_CHILDREN,
        payload_bytes: int = OPUS_128K_BYTES,
        source_s: tuple[float, float] = (0.0, 0.0),
    ) -> None:
        self.network = network
        # the DJ's capture -> send (Opus encoding, signing, its loop), uniform between the two, frames kept in order
        self.source_s = source_s
        self.rng = random.Random(seed ^ 0x5EED)
        self._source_rng = random.Random(
            seed ^ 0x50C
        )  # its own: the rest of a run draws as without the model
        self.max_children = max_children
        self.payload_bytes = payload_bytes
        self.dj = MeshNode(self, "10.0.0.1", max_children=max_children)
        self.listeners: list[MeshNode] = []
        self.latency_ms: list[int] | None = None  # a histogram while latency is being measured
        self._key = nacl.signing.SigningKey(self.rng.randbytes(32))
        self.announce: SignedEnvelope | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # -- the DJ ----------------------------------------------------------------------------------

    async def start_stream(self, *, title: str = "sim", segment_frames: int = 50) -> SignedEnvelope:
        message = StreamAnnounce(title=title, segment_frames=segment_frames, nonce=self.rng.randbytes(8))
        announce = sign(message, self._key, created_at_ms=now_ms())
        self.announce = announce
        await self.dj.start()
        self.dj.hub = StreamHub(
            announce.content_id,
            announce.wire,
            own_address=self.dj.address,
            max_children=self.max_children,
            segment_frames=segment_frames,
            rng=random.Random(self.rng.getrandbits(64)),  # its redirect order repeats with the seed
        )
        self._tasks.append(asyncio.ensure_future(self._pace(message, self.dj.hub)))
        self._tasks.append(asyncio.ensure_future(self._sweep(self.dj.hub)))
        return announce

    async def _pace(self, message: StreamAnnounce, hub: StreamHub) -> None:
        """One frame per frame period, stamped with its capture time, signed every segment (as Broadcast)."""
        signer = SegmentSigner(self._key, hub.stream, message.segment_frames)
        frame_s = message.frame_ms / 1000
        start = monotonic()
        seq = 0
        loop = asyncio.get_running_loop()
        sent_at = 0.0
        while True:
            delay = start + seq * frame_s - monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            payload = (seq.to_bytes(4, "big") * (self.payload_bytes // 4 + 1))[: self.payload_bytes]
            frame = Frame(seq, now_us(), payload)
            manifest = signer.add(frame)
            low, high = self.source_s
            if high > 0:  # stamped at capture, sent once encoded
                sent_at = max(sent_at, loop.time() + self._source_rng.uniform(low, high))
                loop.call_at(sent_at, self._send, hub, frame, manifest)
            else:
                self._send(hub, frame, manifest)
            seq += 1

    @staticmethod
    def _send(hub: StreamHub, frame: Frame, manifest: SegmentManifest | None) -> None:
        hub.forward_frame(frame.seq, frame.encode())
        if manifest is not None:
            hub.forward_manifest(manifest.first_seq, manifest.end_seq, manifest.wire)

    async def _sweep(self, hub: StreamHub) -> None:
        while True:  # as LiveService._housekeeping for its broadcasts
            await asyncio.sleep(0.25)
            hub.sweep()

    # -- listeners -------------------------------------------------------------------------------

    def add_listeners(self, count: int) -> list[MeshNode]:
        """New listener hosts, each connected (libp2p) to up to ``LOCATE_PEERS`` earlier ones."""
        added = []
        for _ in range(count):
            index = len(self.listeners) + 2
            host = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
            node = MeshNode(self, host, max_children=self.max_children)
            if self.listeners:
                node.peers = self.rng.sample(self.listeners, min(LOCATE_PEERS, len(self.listeners)))
            self.listeners.append(node)
            added.append(node)
        return added

    async def join_all(self, nodes: list[MeshNode], *, over_s: float) -> None:
        """Start ``nodes`` and let them join at random times within ``over_s`` seconds; wait for them all."""
        assert self.announce is not None, "start_stream first"
        announce = self.announce
        for node in nodes:
            await node.start()
        times = sorted(self.rng.uniform(0, over_s) for _ in nodes)
        start = monotonic()

        async def arrive(node: MeshNode, at: float) -> None:
            await asyncio.sleep(max(0.0, start + at - monotonic()))
            await node.join(announce)

        await asyncio.gather(*(arrive(node, at) for node, at in zip(nodes, times, strict=True)))

    async def locate(self, asker: MeshNode, stream: bytes) -> list[Address]:
        """``LiveService.locate`` over the simulated libp2p connections."""
        asked = [self.dj, *asker.peers]
        waits = []
        found: list[Address] = []
        for peer in asked:
            if not self.network.reachable(asker.host, peer.host):
                waits.append(ASK_TIMEOUT_S)
                continue
            waits.append(2 * self.network.one_way_s(asker.host, peer.host))
            hub = peer.hub_for(stream)
            if hub is not None:  # as LiveService._serve: itself, then its children with room
                found.append(peer.address)
                found.extend(c.address for c in hub.candidates())
        await asyncio.sleep(max(waits))
        return [a for a in dict.fromkeys(found) if a != asker.address]

    # -- faults ----------------------------------------------------------------------------------

    def relays(self) -> list[MeshNode]:
        """Listeners that currently serve at least one child."""
        return [
            n
            for n in self.listeners
            if not n.crashed and n.subscription is not None and n.subscription.hub.children
        ]

    def below(self, victims: list[MeshNode]) -> list[MeshNode]:
        """Live listeners whose path to the DJ runs through one of ``victims``."""
        gone = {v.address for v in victims}
        return [
            n
            for n in self.listeners
            if not n.crashed
            and n not in victims
            and n.subscription is not None
            and any(a in gone for a in n.subscription.path)
        ]

    async def crash(self, victims: list[MeshNode]) -> None:
        """The victims' hosts stop dead at once (their peers learn it only from silence)."""
        for node in victims:
            node.crashed = True
            self.network.crash(node.host)
        for node in victims:
            await node.stop()

    # -- figures ---------------------------------------------------------------------------------

    def depth(self) -> int:
        return max((n.subscription.hops for n in self.live_subscribers() if n.subscription), default=0)

    def live_subscribers(self) -> list[MeshNode]:
        return [n for n in self.listeners if not n.crashed and n.subscription is not None]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for node in self.listeners:
            if not node.crashed:
                await node.stop()
        await self.dj.stop()


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; nan if empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(share * len(ordered) + 0.999999) - 1))]


def histogram_percentile(histogram: list[int], share: float) -> float:
    total = sum(histogram)
    if total == 0:
        return float("nan")
    wanted = share * total
    running = 0
    for value, count in enumerate(histogram):
        running += count
        if running >= wanted:
            return float(value)
    return float(len(histogram) - 1)


@dataclass(frozen=True)
class ScaleRun:
    """One run of the scale scenario: join, measure, fail a share of the relays, measure recovery."""

    listeners: int
    seed: int = 1
    join_over_s: float = 5.0
    settle_s: float = 2.0
    measure_s: float = 2.0
    fail_share: float = 0.10
    recover_s: float = 5.0
    max_children: int = DEFAULT_MAX_CHILDREN
    source_s: tuple[float, float] = (0.0, 0.0)  # the DJ's capture -> send (``LiveMesh``)


async def run_scale(run: ScaleRun, network: SimNetwork) -> dict[str, float | int]:
    mesh = LiveMesh(network, seed=run.seed, max_children=run.max_children, source_s=run.source_s)
    await mesh.start_stream()
    nodes = mesh.add_listeners(run.listeners)
    await mesh.join_all(nodes, over_s=run.join_over_s)
    log.info("%d listeners: joined by %.1f s (virtual)", run.listeners, monotonic())
    await asyncio.sleep(run.settle_s)
    histogram = [0] * LATENCY_BINS_MS
    mesh.latency_ms = histogram
    await asyncio.sleep(run.measure_s)
    mesh.latency_ms = None
    joined = [n for n in nodes if n.joined and n.join_started is not None]
    join_times = [cast(float, n.meter.first_audio_at) - cast(float, n.join_started) for n in joined]
    depth = mesh.depth()
    relays = mesh.relays()
    victims = mesh.rng.sample(relays, max(1, round(run.fail_share * len(relays)))) if relays else []
    affected = mesh.below(victims)
    for node in affected:
        node.meter.mark()
    await mesh.crash(victims)
    log.info("%d listeners: %d relays crashed at %.1f s (virtual)", run.listeners, len(victims), monotonic())
    await asyncio.sleep(run.recover_s)
    end_us = now_us()
    gaps = [node.meter.gap_s(end_us) for node in affected]
    unrecovered = sum(1 for node in affected if not node.meter.hearing(end_us))
    row: dict[str, float | int] = {
        "listeners": run.listeners,
        "p95_latency_ms": histogram_percentile(histogram, 0.95),
        "max_depth": depth,
        "join_p95_s": round(percentile(join_times, 0.95), 3),
        "recovery_p95_s": round(percentile(gaps, 0.95), 3),
        "p50_latency_ms": histogram_percentile(histogram, 0.50),
        "joined": len(joined),
        "join_failed": sum(1 for n in nodes if n.join_error is not None),
        "relays": len(relays),
        "failed_relays": len(victims),
        "affected": len(affected),
        "unrecovered": unrecovered,
        "recovery_max_s": round(max(gaps), 3) if gaps else 0.0,
    }
    await mesh.close()
    return row
