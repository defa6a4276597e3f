"""Gossip benchmark: N real libp2p hosts on loopback, time for a publish to reach every subscriber.

Rows, each on a fresh set of hosts, in the same run:
  libp2p-defaults    py-libp2p GossipSub as its examples build it (D=6/4/12, all else default:
                     120 s heartbeat, 10 msg/s per-forwarder spam limit, v1.2, no scoring); accept-all.
  djmesh-novalidate  djmesh's GossipConfig (1 s heartbeat, 100 msg/s limit, scoring, v1.1); accept-all.
  djmesh             djmesh's GossipConfig + the real topic validator (decode and verify every signed
                     envelope): the production path. Its gap to the row above is the cost of validation.

Every message is a signed djmesh Chat envelope (~300 bytes) published by the hosts in turn on one
topic that all N hosts subscribe to. The hosts form a ring lattice (host i dials i+1..i+3, so 6
connections each) and run in ``--procs`` worker processes (each one asyncio loop with its hosts in one
trio guest run), like nodes on separate machines would. Latencies use CLOCK_MONOTONIC, which all
processes on one Linux machine share.

Reported per phase: p50/p95 time for a publish to reach *all* N-1 subscribers, p50 per delivery,
delivery ratio, messages/s that reached everyone (over first publish to last arrival), CPU per delivered message (CPU of all workers
over the phase, including the drain, divided by deliveries), and the machine's 1-minute load average
(other work on the machine shows up as latency: read the figures next to it).

    python bench/gossip.py                        # 20 nodes, 20 msg/s for 20 s, then 50 and 100 msg/s
    python bench/gossip.py --nodes 10 --seconds 5 --modes djmesh --procs 1
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import nacl.signing

from djmesh.node.p2p import GossipConfig, P2PHost
from djmesh.node.p2p.gossip import build_default_router
from djmesh.protocol.envelope import decode_envelope, sign
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import Chat

TOPIC = "djmesh/bench/room"
MODES = ("libp2p-defaults", "djmesh-novalidate", "djmesh")
DRAIN_S = 3.0
MAX_EXTRA_DRAIN_S = 60.0
_SEQ = re.compile(rb"seq (\d+) ")


def _key(node: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(node.to_bytes(2, "big") * 16)


def _validate_envelope(data: bytes, origin: str) -> bool:
    try:
        decode_envelope(data, now_ms=int(time.time() * 1000))
    except ProtocolError:
        return False
    return True


def _accept(data: bytes, origin: str) -> bool:
    return True


# ---- worker process ------------------------------------------------------------------------------


class Worker:
    """Runs some of the hosts; obeys the coordinator's commands over a pipe."""

    def __init__(self, mode: str, nodes: list[int], config: GossipConfig) -> None:
        self.mode = mode
        self.nodes = nodes
        self.config = config
        self.hosts: dict[int, P2PHost] = {}
        self.receipts: list[tuple[int, int, float]] = []

    def _make(self, node: int) -> P2PHost:
        seed = _key(node).encode()
        if self.mode == "libp2p-defaults":
            return P2PHost(seed=seed, router_factory=lambda _config: build_default_router())
        return P2PHost(seed=seed, gossip=self.config)

    async def start(self) -> dict[int, str]:
        for node in self.nodes:
            self.hosts[node] = self._make(node)
            await self.hosts[node].start()
        return {node: host.listen_addrs[0] for node, host in self.hosts.items()}

    async def connect(self, dials: list[tuple[int, str]]) -> None:
        await asyncio.gather(*(self.hosts[node].connect(addr) for node, addr in dials))

    async def subscribe(self) -> None:
        validator = _validate_envelope if self.mode == "djmesh" else _accept
        for node, host in self.hosts.items():
            await host.subscribe(TOPIC, validator, lambda data, origin, node=node: self._on(node, data))

    def _on(self, node: int, data: bytes) -> None:
        now = time.monotonic()
        match = _SEQ.search(data)
        if match:
            self.receipts.append((int(match.group(1)), node, now))

    def mesh(self) -> int:
        return min(len(host.mesh_peers(TOPIC)) for host in self.hosts.values())

    async def run(self, plan: list[tuple[int, int, float]], end: float) -> dict[str, Any]:
        created = int(time.time() * 1000)
        wires = [
            (
                seq,
                node,
                at,
                sign(Chat("bench", f"seq {seq} " + "x" * 150), _key(node), created_at_ms=created).wire,
            )
            for seq, node, at in plan
        ]
        self.receipts = []
        published: dict[int, float] = {}
        cpu0 = time.process_time()
        for seq, node, at, wire in wires:
            delay = at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            published[seq] = time.monotonic()
            await self.hosts[node].publish(TOPIC, wire)
        await asyncio.sleep(max(0.0, end - time.monotonic()))
        # Overloaded runs deliver late rather than never: drain until nothing new for DRAIN_S.
        deadline = end + MAX_EXTRA_DRAIN_S
        seen = -1
        while len(self.receipts) != seen and time.monotonic() < deadline:
            seen = len(self.receipts)
            await asyncio.sleep(DRAIN_S)
        return {"published": published, "receipts": self.receipts, "cpu": time.process_time() - cpu0}

    async def stop(self) -> None:
        for host in self.hosts.values():
            await host.stop()


async def _serve(
    conn: multiprocessing.connection.Connection, mode: str, nodes: list[int], config: GossipConfig
) -> None:
    worker = Worker(mode, nodes, config)
    loop = asyncio.get_running_loop()
    while True:
        command, *args = await loop.run_in_executor(None, conn.recv)
        if command == "stop":
            await worker.stop()
            conn.send(None)
            return
        result = getattr(worker, command)(*args)
        if asyncio.iscoroutine(result):
            result = await result
        conn.send(result)


def _worker_main(
    conn: multiprocessing.connection.Connection, mode: str, nodes: list[int], config: GossipConfig
) -> None:
    if not os.environ.get("DJMESH_BENCH_LOG"):
        logging.disable(logging.CRITICAL)  # the library logs every rate-limit drop and failed dial
    asyncio.run(_serve(conn, mode, nodes, config))


# ---- coordinator ---------------------------------------------------------------------------------


@dataclass
class Result:
    mode: str
    phase: str
    offered: float
    published: int
    nodes: int
    seconds: float  # first publish to last arrival
    cpu_s: float
    all_reached_ms: list[float]
    delivery_ms: list[float]
    load: float

    def row(self) -> dict[str, str]:
        deliveries = len(self.delivery_ms)
        expected = self.published * (self.nodes - 1)
        return {
            "mode": self.mode,
            "phase": self.phase,
            "offered msg/s": f"{self.offered:g}",
            "all-reached p50 ms": _fmt(_pct(self.all_reached_ms, 0.50)),
            "all-reached p95 ms": _fmt(_pct(self.all_reached_ms, 0.95)),
            "delivery p50 ms": _fmt(_pct(self.delivery_ms, 0.50)),
            "delivered": f"{100 * deliveries / max(expected, 1):.1f}%",
            "reached all": f"{len(self.all_reached_ms)}/{self.published}",
            "to-all msg/s": f"{len(self.all_reached_ms) / self.seconds:.1f}",
            "CPU ms/delivery": _fmt(1000 * self.cpu_s / deliveries if deliveries else float("nan"), 2),
            "load avg": f"{self.load:.1f}",
        }


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"


class Cluster:
    def __init__(self, mode: str, nodes: int, procs: int, config: GossipConfig) -> None:
        self.mode = mode
        self.n = nodes
        context = multiprocessing.get_context("spawn")
        self.pipes: list[multiprocessing.connection.Connection] = []
        self.procs: list[Any] = []
        self.owner: dict[int, int] = {}
        for p in range(procs):
            mine = [node for node in range(nodes) if node % procs == p]
            for node in mine:
                self.owner[node] = p
            parent, child = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child, mode, mine, config), daemon=True)
            proc.start()
            self.pipes.append(parent)
            self.procs.append(proc)

    def call(self, command: str, per_worker: list[tuple[Any, ...]] | None = None) -> list[Any]:
        for i, pipe in enumerate(self.pipes):
            pipe.send((command, *(per_worker[i] if per_worker else ())))
        return [pipe.recv() for pipe in self.pipes]

    def setup(self) -> None:
        addrs: dict[int, str] = {}
        for part in self.call("start"):
            addrs.update(part)
        dials: list[list[tuple[int, str]]] = [[] for _ in self.pipes]
        for node in range(self.n):
            for k in (1, 2, 3):
                dials[self.owner[node]].append((node, addrs[(node + k) % self.n]))
        self.call("connect", [(d,) for d in dials])
        time.sleep(1.0)  # subscriptions are announced per connection
        self.call("subscribe")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and min(self.call("mesh")) < 3:
            time.sleep(0.5)
        time.sleep(1.5)

    def phase(self, name: str, rate: float, seconds: float, first_seq: int) -> Result:
        count = int(rate * seconds)
        start = time.monotonic() + 1.0
        plans: list[list[tuple[int, int, float]]] = [[] for _ in self.pipes]
        for k in range(count):
            node = k % self.n
            plans[self.owner[node]].append((first_seq + k, node, start + k / rate))
        end = start + seconds + DRAIN_S
        parts = self.call("run", [(plan, end) for plan in plans])
        published: dict[int, float] = {}
        arrivals: dict[int, list[float]] = defaultdict(list)
        for part in parts:
            published.update(part["published"])
            for seq, _node, at in part["receipts"]:
                arrivals[seq].append(at)
        delivery_ms = [
            (at - published[seq]) * 1000 for seq, ats in arrivals.items() for at in ats if seq in published
        ]
        # Throughput over the time it really took: first publish to last arrival.
        last = max((max(ats) for ats in arrivals.values()), default=start + seconds)
        span = max(last - min(published.values(), default=start), seconds)
        all_reached = [
            (max(ats) - published[seq]) * 1000
            for seq, ats in arrivals.items()
            if seq in published and len(ats) >= self.n - 1
        ]
        return Result(
            self.mode, name, rate, len(published), self.n, span,
            sum(part["cpu"] for part in parts), all_reached, delivery_ms, os.getloadavg()[0],
        )  # fmt: skip

    def close(self) -> None:
        self.call("stop")
        for proc in self.procs:
            proc.join(30)


def _table(rows: list[dict[str, str]]) -> str:
    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row[h] for h in headers) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--nodes", type=int, default=20)
    parser.add_argument("--procs", type=int, default=2, help="worker processes the nodes are spread over")
    parser.add_argument("--rate", type=float, default=20.0, help="msg/s of the latency phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the latency phase")
    parser.add_argument(
        "--load-rates", type=lambda s: [float(x) for x in s.split(",") if x], default=[50.0, 100.0]
    )
    parser.add_argument("--load-seconds", type=float, default=10.0)
    parser.add_argument("--modes", type=lambda s: s.split(","), default=list(MODES))
    parser.add_argument(
        "--degree", type=int, default=None, help="mesh degree D for the djmesh rows (D_lo=D-1, D_hi=2D)"
    )
    args = parser.parse_args(argv)
    config = GossipConfig()
    if args.degree is not None:
        config = replace(
            config, degree=args.degree, degree_low=max(1, args.degree - 1), degree_high=2 * args.degree
        )
    if set(args.modes) - set(MODES):
        parser.error(f"modes are {', '.join(MODES)}")
    rows: list[dict[str, str]] = []
    seq = 1
    for mode in args.modes:
        cluster = Cluster(mode, args.nodes, max(1, min(args.procs, args.nodes)), config)
        try:
            cluster.setup()
            phases = [("latency", args.rate, args.seconds)]
            phases += [(f"load {rate:g}", rate, args.load_seconds) for rate in args.load_rates]
            for name, rate, seconds in phases:
                result = cluster.phase(name, rate, seconds, seq)
                seq += result.published + 1
                rows.append(result.row())
                print(_table(rows[-1:]).splitlines()[-1], flush=True)
                time.sleep(2.0)  # let rate-limit windows settle between phases
        finally:
            cluster.close()
    print()
    print(_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
