"""Live audio benchmark: real djmesh nodes on loopback streaming a lavfi sine as Opus 128 kbit/s, 20 ms frames.

Rows:
  1 hop        DJ -> listener. Latency is capture (the DJ stamps each frame when its pacer releases it)
               to playout (the listener's jitter buffer hands it to the null sink), median and p95,
               both on the machine's wall clock (one machine, so no clock offset). "nodes_cpu_share": the
               CPU the row's nodes (and the bootstrap) used while the listener listened, per second of it
               (0.1 = a tenth of a core; what N real nodes on one machine will need).
  3 hops       DJ -> relay -> relay -> listener (every upload budget is 1, so the tree is a chain).
  1 hop webrtc the 1-hop row over WebRTC data channels (aiortc) instead of QUIC.
  relay CPU    one relay with K children (thin QUIC clients in the same process): thread CPU inside the
               relay's receive callback (decrypt, parse, verify bookkeeping, jitter push, and K encrypted
               sends), divided by packets x K. "Listeners per core" = 1 s / (CPU per relayed packet x 50/s).
  reparent     DJ -> relay -> listener; the relay goes silent mid-stream (as if it crashed): the listener's
               longest gap between two real frames, and what its verified record kept.
  lossy        1 hop through a lossy socket wrapper on both ends (tc netem needs privileges we lack):
               5 % of UDP packets dropped and 50 ms added each way. Reports playout loss and how much
               of the signed record the listener still verified (NACK recovery over the control stream).

    /work/venv/bin/python bench/stream.py               # 10 s per row, 20 relay children
    /work/venv/bin/python bench/stream.py --seconds 5 --children 50
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.live import LiveService
from djmesh.node.live.quic import QuicLink, QuicTransport
from djmesh.node.live.subscription import Subscription
from djmesh.node.live.transport import ControlMessage, Link, send
from djmesh.protocol.relay import Join, Ping
from tests.helpers.network import bootstrap_server, make_node, wait_until

SOURCE = "lavfi:sine=frequency=440"


async def _nodes(
    stack: contextlib.AsyncExitStack, root: Path, boot: list[str], budgets: list[int], *, webrtc: bool = False
) -> list[LiveService]:
    out = []
    for index, budget in enumerate(budgets):
        node = await stack.enter_async_context(make_node(root, f"n{index}", boot))
        transport = None
        if webrtc:
            from djmesh.node.live.webrtc import RtcTransport

            transport = RtcTransport(node)
        live = await stack.enter_async_context(LiveService(node, max_children=budget, transport=transport))
        out.append(live)
    first = out[0].node
    for live in out[1:]:
        await live.node.connect(first.listen_addrs[0])
    return out


def _summary(stats: Any) -> dict[str, Any]:
    return {
        "latency_ms_p50": stats.latency_ms,
        "latency_ms_p95": stats.latency_p95_ms,
        "hops": stats.hops,
        "lost_frames": stats.lost_frames,
        "played_frames": stats.played_frames,
        "verified_frames": stats.verified_frames,
        "unverified_frames": stats.unverified_frames,
        "recovered_frames": stats.recovered_frames,
        "jitter_delay_ms": stats.jitter_delay_ms,
        "bitrate": stats.bitrate,
        "first_audio_ms": stats.first_audio_ms,
    }


async def chain(
    hops: int, seconds: float, root: Path, boot: list[str], *, webrtc: bool = False
) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        name = f"chain{hops}{'rtc' if webrtc else ''}"
        lives = await _nodes(stack, root / name, boot, [1] * (hops + 1), webrtc=webrtc)
        dj, *rest = lives
        stream_id = await dj.start_stream(SOURCE, title=f"{hops} hops")
        relays = []
        for live in rest[:-1]:  # each relay listens too, so it stays subscribed
            relays.append(asyncio.ensure_future(live.listen(stream_id, seconds=seconds + 15)))
            await wait_until(lambda live=live: bytes.fromhex(stream_id) in live._subscriptions, what="relay")
        before, started = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        stats = await rest[-1].listen(stream_id, seconds=seconds)
        after, wall = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter() - started
        for task in relays:
            task.cancel()
        await asyncio.gather(*relays, return_exceptions=True)
        await dj.stop_stream(stream_id)
        cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        # every node of the row and the bootstrap, while the listener listened (ffmpeg, a child, is not in it)
        return {**_summary(stats), "nodes_cpu_share": round(cpu_s / wall, 3)}


class _Thin:
    """A bare child: joins, pings, counts datagrams (stands in for a listener on another machine)."""

    def __init__(self) -> None:
        self.datagrams = 0

    def on_datagram(self, link: Link, data: bytes) -> None:
        self.datagrams += 1

    def on_control(self, link: Link, message: ControlMessage) -> None:
        pass

    def on_closed(self, link: Link, reason: str) -> None:
        pass


async def relay_cpu(children: int, seconds: float, root: Path, boot: list[str]) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        dj, relay = await _nodes(stack, root / "relay", boot, [1, children])
        stream_id = await dj.start_stream(SOURCE, title="relay cpu")
        await relay.subscribe(stream_id)
        sub = relay._subscriptions[bytes.fromhex(stream_id)]
        transport = QuicTransport()
        thin = [_Thin() for _ in range(children)]
        links = []
        for handler in thin:
            link = await transport.connect(relay.address, handler, timeout_s=5)
            send(link, Join(bytes.fromhex(stream_id)))
            links.append(link)
        await wait_until(lambda: len(sub.hub.children) == children, what="children joined")

        async def ping() -> None:
            while True:
                for link in links:
                    send(link, Ping(0, 0))
                await asyncio.sleep(0.25)

        pinger = asyncio.ensure_future(ping())
        parent = sub.parent
        assert isinstance(parent, QuicLink)
        spent = {"cpu": 0.0, "calls": 0}
        original = parent.datagram_received

        def timed(data: bytes | str, addr: Any) -> None:
            start = time.thread_time()
            original(data, addr)
            spent["cpu"] += time.thread_time() - start
            spent["calls"] += 1

        parent.datagram_received = timed  # type: ignore[method-assign]
        forwarded0, received0 = sub.hub.forwarded, sub.received_frames
        await asyncio.sleep(seconds)
        parent.datagram_received = original  # type: ignore[method-assign]
        pinger.cancel()
        forwarded = sub.hub.forwarded - forwarded0
        packets = sub.received_frames - received0
        per_packet_us = spent["cpu"] / max(forwarded, 1) * 1e6
        for link in links:
            link.close()
        await dj.stop_stream(stream_id)
        return {
            "children": children,
            "packets_in": packets,
            "packets_relayed": forwarded,
            "cpu_us_per_relayed_packet": round(per_packet_us, 1),
            "cpu_us_per_received_packet_total": round(spent["cpu"] / max(packets, 1) * 1e6, 1),
            "listeners_per_core_128k": int(1.0 / (per_packet_us * 1e-6 * 50)),
            "children_received": sum(t.datagrams for t in thin),
        }


class _LossyTransport:
    """Wraps an asyncio datagram transport: drops a share of packets and delays the rest."""

    def __init__(self, inner: Any, loss: float, delay_s: float, rng: random.Random) -> None:
        self._inner, self._loss, self._delay, self._rng = inner, loss, delay_s, rng
        self._loop = asyncio.get_running_loop()
        self.sent = self.dropped = 0

    def sendto(self, data: bytes, addr: Any = None) -> None:
        self.sent += 1
        if self._rng.random() < self._loss:
            self.dropped += 1
            return
        self._loop.call_later(self._delay, self._send, data, addr)

    def _send(self, data: bytes, addr: Any) -> None:
        if not self._inner.is_closing():
            self._inner.sendto(data, addr)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


async def lossy(seconds: float, root: Path, boot: list[str], loss: float, delay_ms: float) -> dict[str, Any]:
    async with contextlib.AsyncExitStack() as stack:
        dj, listener = await _nodes(stack, root / "lossy", boot, [4, 4])
        stream_id = await dj.start_stream(SOURCE, title="lossy")
        await listener.subscribe(stream_id)
        sub = listener._subscriptions[bytes.fromhex(stream_id)]
        assert isinstance(sub, Subscription) and isinstance(sub.parent, QuicLink)
        hub = dj._broadcasts[bytes.fromhex(stream_id)].hub
        rng = random.Random(7)
        wrapped = []
        for link in [sub.parent, *[c.link for c in hub.children.values()]]:
            assert isinstance(link, QuicLink)
            lossy_transport = _LossyTransport(link._transport, loss, delay_ms / 1000, rng)
            link._transport = lossy_transport  # type: ignore[assignment]
            wrapped.append(lossy_transport)
        stats = await listener.listen(stream_id, seconds=seconds)
        await dj.stop_stream(stream_id)
        return {
            **_summary(stats),
            "udp_packets": sum(w.sent for w in wrapped),
            "udp_dropped": sum(w.dropped for w in wrapped),
            "dropped": stats.dropped,
        }


async def reparent(seconds: float, root: Path, boot: list[str]) -> dict[str, Any]:
    """DJ (budget 1) -> relay -> listener; the relay goes silent (a crash) mid-stream."""
    async with contextlib.AsyncExitStack() as stack:
        dj, relay, listener = await _nodes(stack, root / "reparent", boot, [2, 4, 4])
        stream_id = await dj.start_stream(SOURCE, title="reparent")
        await relay.subscribe(stream_id)
        dj._broadcasts[bytes.fromhex(stream_id)].hub.max_children = 1  # full: the listener goes via the relay
        task = asyncio.ensure_future(listener.listen(stream_id, seconds=seconds))
        stream = bytes.fromhex(stream_id)
        await wait_until(lambda: stream in listener._subscriptions, what="listener attached")
        await asyncio.sleep(seconds / 3)
        dj._broadcasts[stream].hub.max_children = 2  # room again for the listener to fail over
        hub = relay._subscriptions[stream].hub
        hub.forward_frame = lambda *a: None  # type: ignore[method-assign]
        hub.forward_manifest = lambda *a: None  # type: ignore[method-assign]
        hub.on_control = lambda *a: None  # type: ignore[method-assign]
        stats = await task
        await dj.stop_stream(stream_id)
        return {
            "reparents": stats.reparents,
            "max_gap_ms": round(stats.max_gap_ms, 1),
            "hops_after": stats.hops,
            "lost_frames": stats.lost_frames,
            "unverified_frames": stats.unverified_frames,
            "recovered_frames": stats.recovered_frames,
        }


async def main(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"load_avg_1m": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with bootstrap_server() as boot:
            results["one_hop"] = await chain(1, args.seconds, root, boot)
            results["three_hops"] = await chain(3, args.seconds, root, boot)
            results["one_hop_webrtc"] = await chain(1, args.seconds, root, boot, webrtc=True)
            results["relay"] = await relay_cpu(args.children, args.seconds, root, boot)
            results["lossy"] = await lossy(args.seconds, root, boot, 0.05, 50.0)
            results["reparent"] = await reparent(args.seconds, root, boot)
    results["load_avg_1m_end"] = os.getloadavg()[0]
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--children", type=int, default=20)
    logging.basicConfig(level=logging.ERROR)
    for noisy in ("libp2p", "djmesh", "aioquic", "multiaddr"):
        logging.getLogger(noisy).setLevel(logging.CRITICAL)
    print(json.dumps(asyncio.run(main(parser.parse_args())), indent=2))
