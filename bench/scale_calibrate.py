"""The scale simulation checked against real nodes at 20: the same tree, measured the same way, both ways.

Real: a DJ and 19 listeners, each a real ``Node`` with its ``LiveService`` (libp2p to locate the stream,
QUIC on loopback for the mesh, the DJ's real capture of a sine and Opus at 128 kbit/s, Opus decode, a
null sink), each node in a process of its own as on its own machine (``--one-process``: all of them on one
event loop, which measures that loop's queue more than the mesh); every node relays to at most
--max-children, so the tree is 2-3 deep. The processes start, connect and hear the announcement, then the
bench waits until they idle (start-up's DHT and gossip work done) before the first arrival, and reports
each process's CPU (``/proc/<pid>/stat``) for start-up and for the listening window.
Simulated: node/sim/mesh.py's ``LiveMesh`` with the same listener count and upload budget, on links of
0.05-0.1 ms one way (loopback-like) and virtual time, with the per-packet handling time of a real node
measured on 8 real nodes (``REAL_HOP_S``, ``REAL_SOURCE_S``). In both, the listeners arrive at random times
within --join-over seconds and listen until the same end.

Per run: the median over listeners of each listener's median capture -> playout latency, the largest
of their 95th percentiles, the deepest listener's hops, and the join time (subscribing, locate
included, to the first audible frame) at the median and the 95th percentile. The margins the simulation
must meet (stated before the runs, BENCHMARKS.md): latency within 5 ms or 50 % (whichever is larger:
the sim leaves out CPU contention between 20 nodes on one machine and the jitter buffer's reaction to it),
the same depth +-1, joins within 0.5 s. Also per depth: capture -> arrival (transit) at the end of the run,
and (real) the latency split into capture -> due and due -> played, to tell the mesh from a starved CPU.

    .venv/bin/python bench/scale_calibrate.py --json
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
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.roles import read_line, spawn, tell
from djmesh.node.clock import VirtualClock, monotonic, run_virtual
from djmesh.node.live import LiveService
from djmesh.node.live.errors import LiveError
from djmesh.node.live.sets import SetSegment
from djmesh.node.sim.mesh import REAL_HOP_S, REAL_SOURCE_S, LiveMesh, MeshNode, percentile
from djmesh.node.sim.network import LinkProfile, SimNetwork
from djmesh.protocol.stream import JitterBuffer, Playout
from tests.helpers.network import bootstrap_server, make_node, wait_until

SOURCE = "lavfi:sine=frequency=440"
LOOPBACK_S = (0.00005, 0.0001)
IDLE_CORES_PER_NODE = 0.03  # start-up is over when the nodes use less than this on average (the DJ streams)
MARGINS = {"latency_ms": (5.0, 0.5), "max_depth": 1, "join_s": 0.5}


def _row(p50s: list[float], p95s: list[float], depth: int, joins: list[float]) -> dict[str, Any]:
    return {
        "listeners": len(p50s),
        "latency_p50_ms_median": round(statistics.median(p50s), 1) if p50s else None,
        "latency_p95_ms_max": round(max(p95s), 1) if p95s else None,
        "max_depth": depth,
        "join_p50_s": round(percentile(joins, 0.5), 3) if joins else None,
        "join_p95_s": round(percentile(joins, 0.95), 3) if joins else None,
    }


async def real(
    listeners: int, seconds: float, max_children: int, join_over_s: float, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as tmp:
        async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
            lives: list[LiveService] = []
            for index in range(listeners + 1):
                node = await stack.enter_async_context(make_node(Path(tmp), f"n{index}", boot))
                lives.append(await stack.enter_async_context(LiveService(node, max_children=max_children)))
            dj, *rest = lives
            for live in rest:
                await live.node.connect(dj.node.listen_addrs[0])
            stream_id = await dj.start_stream(SOURCE, title="calibration")
            stream = bytes.fromhex(stream_id)  # the announcement reaches everyone by gossip first
            await wait_until(lambda: all(stream in live._announces for live in rest), what="the announcement")
            loop = asyncio.get_running_loop()
            end = loop.time() + join_over_s + seconds

            async def arrive(live: LiveService, at_s: float) -> tuple[Any, float] | None:
                await asyncio.sleep(at_s)
                started = loop.time()
                try:
                    await live.subscribe(stream_id)
                except LiveError:  # counted, as the simulation counts a first join that fails
                    return None
                subscribed_s = loop.time() - started
                stats = await live.listen(stream_id, seconds=max(1.0, end - loop.time()))
                return stats, subscribed_s + (stats.first_audio_ms or 0.0) / 1000

            results = await asyncio.gather(*(arrive(live, rng.uniform(0, join_over_s)) for live in rest))
            await dj.stop_stream(stream_id)
    played = [(s, j) for s, j in filter(None, results) if s.latency_ms is not None]
    row = _row(
        [s.latency_ms for s, _ in played],
        [s.latency_p95_ms for s, _ in played if s.latency_p95_ms is not None],
        max((s.hops for s, _ in played), default=0),
        [j for s, j in played if s.first_audio_ms is not None],
    )
    row["join_failed"] = sum(1 for r in results if r is None)
    return row


async def real_processes(
    listeners: int, seconds: float, max_children: int, join_over_s: float, seed: int
) -> dict[str, Any]:
    """As ``real``, each node in a process of its own: arrivals are wall-clock times all of them share."""
    rng = random.Random(seed)
    children: list[subprocess.Popen[str]] = []
    cpu_start = _children_cpu_s()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with bootstrap_server() as boot:
                common = ["--root", tmp, "--boot", json.dumps(boot), "--max-children", str(max_children)]
                dj = spawn(__file__, "--role", "dj", "--index", "0", *common)
                children.append(dj)
                started = await read_line(dj)
                rest = [
                    spawn(
                        __file__,
                        "--role",
                        "listener",
                        "--index",
                        str(i),
                        "--dj",
                        started["addr"],
                        "--stream",
                        started["stream"],
                        *common,
                    )
                    for i in range(1, listeners + 1)
                ]
                children.extend(rest)
                for child in rest:
                    await read_line(child)  # connected, and the announcement reached it
                pids = [child.pid for child in children]
                ready = _cpu_s(pids)
                idle_s, settled = await _settle(pids)  # start-up is over: every node idles (the DJ streams)
                begin = time.time() + 1.0
                end = begin + join_over_s + seconds
                for child in rest:
                    tell(child, {"at": begin + rng.uniform(0, join_over_s), "end": end})
                await asyncio.sleep(max(0.0, begin - time.time()))
                listening = _cpu_s(pids)
                results = [await read_line(child) for child in rest]
                done = _cpu_s(pids)
                listened_s = time.time() - begin
                tell(dj, {"stop": True})
                await asyncio.to_thread(dj.wait, 30)
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
            child.wait()
    played = [r for r in results if r.get("latency_ms") is not None]
    row = _row(
        [r["latency_ms"] for r in played],
        [r["latency_p95_ms"] for r in played if r["latency_p95_ms"] is not None],
        max((r["hops"] for r in played), default=0),
        [r["join_s"] for r in played if r["join_s"] is not None],
    )
    row["join_failed"] = sum(1 for r in results if "failed" in r)
    row["by_depth"] = _by_depth([(r["hops"], r["transit_ms"], r["latency_ms"]) for r in played])
    # the real latency, split: capture -> due (transit and the jitter buffer's delay) and due -> played (loop lag)
    row["scheduled_ms_thirds"] = [
        statistics.median(r["scheduled_ms"][i] for r in played if r["scheduled_ms"]) for i in range(3)
    ]
    row["late_ms_median"] = statistics.median(r["late_ms"] for r in played) if played else None
    row["cpu_s"] = round(_children_cpu_s() - cpu_start, 1)
    # where the CPU went: start-up (spawn to ready), idling before the arrivals, and the listening window
    listen_cpu = [b - a for a, b in zip(listening, done, strict=True)]
    row["cpu"] = {
        "startup_s": round(sum(ready), 1),
        "idle_cores": round(settled, 2),
        "settle_s": round(idle_s, 1),
        "listening_wall_s": round(listened_s, 1),
        "listening_cpu_s": round(sum(listen_cpu), 1),
        "listening_cores": round(sum(listen_cpu) / listened_s, 2),
        "dj_cores": round(listen_cpu[0] / listened_s, 3),
        "listener_cores_median": round(statistics.median(listen_cpu[1:]) / listened_s, 3),
        "listener_cores_max": round(max(listen_cpu[1:]) / listened_s, 3),
    }
    return row


def _transit_ms(jitter: JitterBuffer) -> tuple[float, float, float] | None:
    """Capture -> arrival over the jitter buffer's window (its last 200 frames): least, median, 95th percentile."""
    transits = jitter._sorted  # bench introspection: the buffer keeps them sorted
    if not transits:
        return None
    return (
        round(transits[0] / 1000, 2),
        round(percentile(transits, 0.5) / 1000, 2),
        round(percentile(transits, 0.95) / 1000, 2),
    )


def _by_depth(
    listeners: list[tuple[int, tuple[float, float, float] | None, float]],
) -> dict[int, dict[str, float]]:
    """Per depth, over its listeners: the medians of their least, median and p95 transit, and of their latency."""
    found: dict[int, dict[str, float]] = {}
    for depth in sorted({hops for hops, _, _ in listeners}):
        rows = [(t, latency) for hops, t, latency in listeners if hops == depth and t is not None]
        if not rows:
            continue
        found[depth] = {
            "listeners": len(rows),
            "transit_min_ms": round(statistics.median(t[0] for t, _ in rows), 2),
            "transit_p50_ms": round(statistics.median(t[1] for t, _ in rows), 2),
            "transit_p95_ms": round(statistics.median(t[2] for t, _ in rows), 2),
            "latency_ms": round(statistics.median(latency for _, latency in rows), 2),
        }
    return found


def _cpu_s(pids: list[int]) -> list[float]:
    """Each process's user + system CPU seconds so far (/proc/<pid>/stat; 0 for one that is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = []
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            found.append(0.0)
            continue
        found.append((int(fields[11]) + int(fields[12])) / tick)  # utime, stime (fields 14, 15)
    return found


async def _settle(pids: list[int], *, window_s: float = 1.0, limit_s: float = 60.0) -> tuple[float, float]:
    """Wait until the nodes idle (start-up done: a second under ``IDLE_CORES_PER_NODE`` each, on average);
    how long it took and the cores they used in the last second."""
    started = time.monotonic()
    before = sum(_cpu_s(pids))
    while True:
        await asyncio.sleep(window_s)
        now = sum(_cpu_s(pids))
        cores = (now - before) / window_s
        before = now
        print(f"settling: the nodes use {cores:.2f} cores", file=sys.stderr)
        if cores <= IDLE_CORES_PER_NODE * len(pids) or time.monotonic() - started > limit_s:
            return time.monotonic() - started, cores


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


class Lateness:
    """A tap splitting each played frame's latency: capture -> due (the buffer's schedule) and due -> played."""

    def __init__(self) -> None:
        self.scheduled: list[float] = []
        self.late: list[float] = []

    def on_playout(self, item: Playout, now_us: int) -> None:
        if item.payload is not None:
            self.scheduled.append((item.due_us - item.ts_us) / 1000)
            self.late.append((now_us - item.due_us) / 1000)

    def on_segment(self, segment: SetSegment) -> None:
        pass

    def on_end(self, error: str | None) -> None:
        pass

    def scheduled_ms(self) -> list[float] | None:
        """Medians of capture -> due over the first, second and last third of the frames played."""
        n = len(self.scheduled)
        if n < 3:
            return None
        return [round(statistics.median(self.scheduled[i * n // 3 : (i + 1) * n // 3]), 2) for i in range(3)]

    def late_ms(self) -> float | None:
        return round(statistics.median(self.late), 2) if self.late else None


async def dj_process(root: Path, boot: list[str], max_children: int) -> None:
    node = make_node(root, "n0", boot)
    async with node, LiveService(node, max_children=max_children) as dj:
        stream_id = await dj.start_stream(SOURCE, title="calibration")
        print(json.dumps({"addr": node.listen_addrs[0], "stream": stream_id}), flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await dj.stop_stream(stream_id)


async def listener_process(
    root: Path, boot: list[str], max_children: int, index: int, dj_addr: str, stream_id: str
) -> None:
    node = make_node(root, f"n{index}", boot)
    async with node, LiveService(node, max_children=max_children) as live:
        await node.connect(dj_addr)
        stream = bytes.fromhex(stream_id)
        await wait_until(lambda: stream in live._announces, what="the announcement")
        print(json.dumps({"ready": True}), flush=True)
        order = json.loads(await asyncio.to_thread(sys.stdin.readline))
        await asyncio.sleep(max(0.0, order["at"] - time.time()))
        if profile_dir := os.environ.get("DJMESH_PROFILE"):  # where a listener's CPU goes, while it listens
            import cProfile

            profile = cProfile.Profile()
            profile.enable()
        started = time.monotonic()
        try:
            source = await live.subscribe(stream_id)
        except LiveError as exc:
            print(json.dumps({"failed": str(exc)}), flush=True)
            return
        subscribed_s = time.monotonic() - started
        lateness = Lateness()
        source.taps.add(lateness)
        stats = await live.listen(stream_id, seconds=max(1.0, order["end"] - time.time()))
        if profile_dir:
            profile.disable()
            profile.dump_stats(f"{profile_dir}/n{index}.prof")
        subscription = live._subscriptions.get(stream)
        transit = _transit_ms(subscription.jitter) if subscription is not None else None
        join_s = None if stats.first_audio_ms is None else subscribed_s + stats.first_audio_ms / 1000
        print(
            json.dumps(
                {
                    "latency_ms": stats.latency_ms,
                    "latency_p95_ms": stats.latency_p95_ms,
                    "hops": stats.hops,
                    "join_s": join_s,
                    "transit_ms": transit,
                    "scheduled_ms": lateness.scheduled_ms(),
                    "late_ms": lateness.late_ms(),
                }
            ),
            flush=True,
        )


async def simulated(
    listeners: int, seconds: float, max_children: int, join_over_s: float, seed: int
) -> dict[str, Any]:
    network = SimNetwork(seed, LinkProfile(latency_s=LOOPBACK_S, hop_s=REAL_HOP_S))
    mesh = LiveMesh(network, seed=seed, max_children=max_children, source_s=REAL_SOURCE_S)
    await mesh.start_stream()
    nodes = mesh.add_listeners(listeners)
    latencies: dict[str, list[float]] = {n.host: [] for n in nodes}

    def tap(node: MeshNode) -> None:
        on_playout = node.meter.on_playout

        def measured(item: Any, now_us: int) -> None:
            if item.payload is not None:
                latencies[node.host].append((now_us - item.ts_us) / 1000)
            on_playout(item, now_us)

        node.meter.on_playout = measured  # type: ignore[method-assign]

    for node in nodes:
        tap(node)
    started = monotonic()
    await mesh.join_all(nodes, over_s=join_over_s)
    await asyncio.sleep(max(0.0, started + join_over_s + seconds - monotonic()))
    heard = [n for n in nodes if latencies[n.host]]
    row = _row(
        [statistics.median(latencies[n.host]) for n in heard],
        [percentile(latencies[n.host], 0.95) for n in heard],
        mesh.depth(),
        [
            n.meter.first_audio_at - n.join_started
            for n in heard
            if n.meter.first_audio_at is not None and n.join_started is not None
        ],
    )
    row["join_failed"] = sum(1 for n in nodes if n.join_error is not None)
    row["by_depth"] = _by_depth(
        [
            (n.subscription.hops, _transit_ms(n.subscription.jitter), statistics.median(latencies[n.host]))
            for n in heard
            if n.subscription is not None
        ]
    )
    await mesh.close()
    return row


def within(sim: dict[str, Any], real_row: dict[str, Any]) -> dict[str, bool]:
    absolute, relative = MARGINS["latency_ms"]

    def close(key: str, margin: float) -> bool:
        a, b = sim[key], real_row[key]
        return a is not None and b is not None and abs(a - b) <= margin

    return {
        "latency_p50_ms_median": close(
            "latency_p50_ms_median", max(absolute, relative * (real_row["latency_p50_ms_median"] or 0))
        ),
        "latency_p95_ms_max": close(
            "latency_p95_ms_max", max(absolute, relative * (real_row["latency_p95_ms_max"] or 0))
        ),
        "max_depth": close("max_depth", MARGINS["max_depth"]),
        "join_p50_s": close("join_p50_s", MARGINS["join_s"]),
        "join_p95_s": close("join_p95_s", MARGINS["join_s"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--listeners", type=int, default=19, help="listeners besides the DJ")
    parser.add_argument("--seconds", type=float, default=10.0, help="listening after the last arrival")
    parser.add_argument("--max-children", type=int, default=4)
    parser.add_argument("--join-over", type=float, default=4.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--one-process", action="store_true", help="the real nodes share one event loop")
    parser.add_argument(
        "--role", choices=["bench", "dj", "listener"], default="bench", help=argparse.SUPPRESS
    )
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--boot", help=argparse.SUPPRESS)
    parser.add_argument("--dj", help=argparse.SUPPRESS)
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.role == "dj":
        asyncio.run(dj_process(Path(args.root), json.loads(args.boot), args.max_children))
        return
    if args.role == "listener":
        listen = listener_process(
            Path(args.root), json.loads(args.boot), args.max_children, args.index, args.dj, args.stream
        )
        asyncio.run(listen)
        return
    shape = (args.listeners, args.seconds, args.max_children, args.join_over, args.seed)
    started = time.perf_counter()
    sim = run_virtual(simulated(*shape), VirtualClock())
    sim["wall_s"] = round(time.perf_counter() - started, 1)
    started, cpu = time.perf_counter(), time.process_time()
    if args.one_process:
        real_row = asyncio.run(real(*shape))
        # 20 real nodes share this process: CPU seconds near wall seconds mean the run was CPU bound
        real_row["cpu_s"] = round(time.process_time() - cpu, 1)
    else:
        real_row = asyncio.run(real_processes(*shape))
    real_row["wall_s"] = round(time.perf_counter() - started, 1)
    report = {
        "real_nodes": "one process" if args.one_process else "a process each",
        "simulated": sim,
        "real": real_row,
        "within_margin": within(sim, real_row),
        "margins": MARGINS,
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(report))
        return
    for key, ok in report["within_margin"].items():
        print(
            f"{key:<24} simulated {sim[key]!s:>8}   real {real_row[key]!s:>8}   {'within' if ok else 'OUTSIDE'}"
        )
    print(
        f"listeners heard: simulated {sim['listeners']}, real {real_row['listeners']}; load {report['load_avg_1m']}"
    )


if __name__ == "__main__":
    main()
