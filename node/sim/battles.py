"""Chaos for whole battles: real nodes (``Node``, ``LiveService``, ``BattleService``, the judge) on the in-memory
network (gossip by node/sim/p2p.py, the live mesh by node/sim/network.py) and virtual time, with a fault placed
against the battle's own deadlines.

Two DJs and six viewers; the committee is 4 (f = 1). Each scenario injects one fault and reports whether every
node still running agrees on one result (the same canonical result hash, or all without a result), and whether
the fault stayed within f. Judging costs no virtual time (worker threads hold the virtual clock still), so the
time from the sets' end to the result is protocol time: gossip hops, windows and waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from djmesh.node.battle.judging import SharedJudge
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.clock import SkewedClock, current, now_ms, set_node_clock
from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node, NodeOptions
from djmesh.node.sim.network import LinkProfile, SimNetwork
from djmesh.node.sim.p2p import SimP2PNetwork
from djmesh.protocol.battle import BATTLES_TOPIC, BattleAnnounce, Rules
from djmesh.protocol.consensus import Result

log = logging.getLogger(__name__)
T = TypeVar("T")

DJS = ("dj-a", "dj-b")
VIEWERS = tuple(f"viewer-{i}" for i in range(1, 7))
COMMITTEE = 4
F = (COMMITTEE - 1) // 3


@dataclass
class _Peer:
    name: str
    node: Node
    battles: BattleService
    stack: contextlib.AsyncExitStack
    context: contextvars.Context = field(default_factory=contextvars.copy_context)  # its clock

    async def act(self, action: Awaitable[T]) -> T:
        """Run what the operator of this node does (``announce``, ``accept``) on the node's own clock."""

        async def run() -> T:
            return await action

        return await asyncio.get_running_loop().create_task(run(), context=self.context.copy())


class SimBattle:
    """A hub, the DJs and the viewers (who join committees on their own), each a real node on one simulated
    network. ``battle`` plays ``dj-a`` against ``dj-b``; tests with other DJs (an open challenge's takers)
    name them in ``djs``."""

    def __init__(
        self,
        root: Path,
        seed: int,
        profile: LinkProfile | None = None,
        *,
        clock_offsets_s: Mapping[str, float] | None = None,
        djs: tuple[str, ...] = DJS,
        viewers: tuple[str, ...] = VIEWERS,
    ) -> None:
        self.root = root
        self.djs, self.viewers = djs, viewers
        self.clock_offsets_s = dict(clock_offsets_s or {})  # nodes whose wall clocks are off, by name
        self.sim = SimNetwork(seed, profile or LinkProfile(latency_s=(0.02, 0.08), jitter_s=0.002))
        self.net = SimP2PNetwork(self.sim, seed=seed)
        self.peers: dict[str, _Peer] = {}
        self.down: set[str] = set()  # crashed and not restarted
        # members holding the same audio share one judge computation, as in `djmesh demo`: the judge is a pure
        # function, and running it once per member on the same cores only costs CPU (a member whose audio
        # differs still gets its own)
        self.judge = SharedJudge()
        self._hub: Node | None = None
        self._stack = contextlib.AsyncExitStack()

    def _home(self, name: str) -> NodeHome:
        home = NodeHome(self.root / name)
        home.ensure()
        if not home.key_file.exists():
            create_identity(home.key_file, seed=name.encode().ljust(32, b"\0")[:32])
        return home

    async def start(self) -> None:
        options = NodeOptions(host_factory=self.net.factory(), listen=[])
        self._hub = await self._stack.enter_async_context(Node(self._home("hub"), options=options))
        for name in (*self.djs, *self.viewers):
            await self.boot(name)

    async def boot(self, name: str) -> _Peer:
        """Start ``name``; a node with a clock offset runs (tasks and what arrives for it) on its own clock."""
        offset = self.clock_offsets_s.get(name)
        if offset is None:
            return await self._boot(name)
        context = contextvars.copy_context()
        context.run(set_node_clock, SkewedClock(current(), offset))
        return await asyncio.get_running_loop().create_task(self._boot(name), context=context)

    async def _boot(self, name: str) -> _Peer:
        assert self._hub is not None
        stack = contextlib.AsyncExitStack()
        options = NodeOptions(
            host_factory=self.net.factory(), listen=[], bootstrap=[self._hub.listen_addrs[0]]
        )
        node = await stack.enter_async_context(Node(self._home(name), options=options))
        live = await stack.enter_async_context(
            LiveService(node, transport=self.sim.transport(node.peer_id), host=node.peer_id)
        )
        battles = await stack.enter_async_context(
            BattleService(node, live, auto_join=name in self.viewers, judge=self.judge)
        )
        peer = self.peers[name] = _Peer(name, node, battles, stack)
        self.down.discard(name)
        return peer

    async def crash(self, name: str) -> None:
        """The node stops dead: the network hears nothing more from it; its disk keeps what it wrote."""
        peer = self.peers.pop(name)
        self.sim.crash(peer.node.peer_id)
        self.down.add(name)
        await peer.stack.aclose()

    async def restart(self, name: str) -> None:
        self.sim.revive(self._peer_id(name))
        await self.boot(name)

    def _peer_id(self, name: str) -> str:
        from djmesh.node.identity import load_identity

        return load_identity(self._home(name).key_file).peer_id

    async def close(self) -> None:
        for peer in list(self.peers.values()):
            await peer.stack.aclose()
        self.peers.clear()
        await self._stack.aclose()

    async def settle(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not all(p.node.host.mesh_peers(BATTLES_TOPIC) for p in self.peers.values()):
            if loop.time() > deadline:
                raise TimeoutError("the battles topic never formed a mesh")
            await asyncio.sleep(0.1)

    async def battle(self, set_a: DjSet, set_b: DjSet, rules: Rules) -> BattleAnnounce:
        a, b = self.peers["dj-a"].battles, self.peers["dj-b"].battles
        battle_id = await self.peers["dj-a"].act(
            a.announce(
                b.node.peer_id,
                set_a,
                rules=rules,
                start_in_s=20,
                accept_s=12,
                commit_seconds=60,
                reveal_seconds=30,
            )
        )
        while battle_id not in b.battles:
            await asyncio.sleep(0.05)
        await self.peers["dj-b"].act(b.accept(battle_id, set_b))
        self.battle_id = battle_id
        return a.battles[battle_id].machine.spec

    def member_names(self) -> list[str]:
        """The committee, once drawn (as DJ A's machine knows it)."""
        machine = self.peers["dj-a"].battles.battles[self.battle_id].machine
        committee = machine.committee()
        by_key = {p.node.public_key: name for name, p in self.peers.items()}
        return [by_key[k] for k in committee if k in by_key]

    async def results(self, timeout_s: float) -> dict[str, Result | None]:
        names = list(self.peers)
        found = await asyncio.gather(
            *(self.peers[n].battles.wait_result(self.battle_id, timeout_s) for n in names)
        )
        return dict(zip(names, found, strict=True))


def sim_rules() -> Rules:
    """Short battles (10 s sets, two tracks, a committee of 4) judged by the pinned model."""
    from djmesh.judge import JUDGE_PIN

    return Rules.for_genre(
        "house",
        tracks=2,
        set_seconds=10,
        committee_size=COMMITTEE,
        mode="simultaneous",
        model=JUDGE_PIN,
    )


Fault = Callable[[SimBattle, BattleAnnounce], Awaitable[int]]  # returns how many members it made faulty


async def at(when_ms: int) -> None:
    await asyncio.sleep(max(0.0, (when_ms - now_ms()) / 1000))


async def no_fault(sim: SimBattle, spec: BattleAnnounce) -> int:
    return 0


def _cut(sim: SimBattle, names: list[str]) -> None:
    isolated = [sim.peers[n].node.peer_id for n in names if n in sim.peers]
    sim.sim.partition(isolated)


async def _partition_around(
    sim: SimBattle, when_ms: int, names: Callable[[], list[str]], span_s: float
) -> int:
    await at(when_ms - int(span_s * 500))
    cut = names()
    _cut(sim, cut)
    await asyncio.sleep(span_s)
    sim.sim.heal()
    for name in cut:  # the cut node dials its peers again, as libp2p's reconnects would
        peer = sim.peers.get(name)
        if peer is not None and sim._hub is not None:
            with contextlib.suppress(Exception):
                await peer.node.connect(sim._hub.listen_addrs[0])
    return len(cut)


async def partition_at_join_by(sim: SimBattle, spec: BattleAnnounce) -> int:
    return await _partition_around(sim, spec.join_by, lambda: ["viewer-6"], 6.0)


async def partition_at_commit(sim: SimBattle, spec: BattleAnnounce) -> int:
    """One member cut off from just before the sets end (when members judge and commit) for 10 s."""
    return await _partition_around(sim, spec.sets_end, lambda: sim.member_names()[:1], 10.0)


async def partition_at_reveal(sim: SimBattle, spec: BattleAnnounce) -> int:
    """One member cut off across the commit deadline, when reveals are due at the latest."""
    return await _partition_around(sim, spec.commit_by, lambda: sim.member_names()[:1], 10.0)


async def member_restarts_after_commit(sim: SimBattle, spec: BattleAnnounce) -> int:
    """A member crashes as soon as its commit is out and comes back 3 s later (its sealed verdict on disk)."""
    await at(spec.sets_end)
    members = sim.member_names()
    if not members:
        return 0  # no committee was drawn: nobody to crash
    victim = members[0]
    key = sim.peers[victim].node.public_key
    while now_ms() < spec.commit_by:  # a member that cannot judge never commits: it crashes at the deadline
        machine = sim.peers[victim].battles.battles[sim.battle_id].machine
        if any(c.author == key for c in machine.commits):
            break
        await asyncio.sleep(0.01)
    await sim.crash(victim)
    await asyncio.sleep(3.0)
    await sim.restart(victim)
    return 1


async def dj_crashes_mid_set(sim: SimBattle, spec: BattleAnnounce) -> int:
    await at(spec.start_at + spec.rules.set_seconds * 500)
    await sim.crash("dj-b")
    return 0  # a DJ, not a committee member


async def member_disk_full(sim: SimBattle, spec: BattleAnnounce) -> int:
    """A member's disk fills up as the sets start: it can store no more messages, its own included."""
    await at(spec.start_at)
    victim = sim.member_names()[0]
    store = sim.peers[victim].node.store
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")
    return 1


async def most_members_crash_before_judging(sim: SimBattle, spec: BattleAnnounce) -> int:
    """All members but one crash as the sets end, before any commits: too few verdicts for any result."""
    await at(spec.sets_end)
    members = sim.member_names()
    for victim in members[1:]:
        await sim.crash(victim)
    return len(members[1:])


@dataclass(frozen=True)
class SkewedClocks:
    """Nodes whose wall clocks are off from the moment they boot (``SimBattle(clock_offsets_s=...)``).

    A node's clock sets the time it stamps on what it signs and the time it reads the battle's deadlines
    by. Counted as faulty: the members off by more than ``tolerated_s`` (what the battle's arrival grace
    absorbs); a node off by more than the envelope's skew limit (2 minutes) is refused by everyone else
    and never becomes a member.
    """

    offsets_s: Mapping[str, float]
    tolerated_s: float = 5.0

    async def __call__(self, sim: SimBattle, spec: BattleAnnounce) -> int:
        await at(spec.start_at)  # the committee is fixed by then
        members = sim.member_names()
        return sum(1 for n in members if abs(self.offsets_s.get(n, 0.0)) > self.tolerated_s)


BATTLE_SCENARIOS: list[tuple[str, Fault]] = [
    ("battle: no fault", no_fault),
    ("battle: a viewer cut off around join_by", partition_at_join_by),
    ("battle: a member cut off as members commit", partition_at_commit),
    ("battle: a member cut off around the commit deadline", partition_at_reveal),
    ("battle: a member crashes after committing, restarts", member_restarts_after_commit),
    ("battle: DJ B crashes mid-set", dj_crashes_mid_set),
    ("battle: a member's disk is full", member_disk_full),
    ("battle: all members but one crash before judging", most_members_crash_before_judging),
    (
        "battle: a third of the clocks off by up to 2 s",
        SkewedClocks({"dj-b": 2.0, "viewer-1": -2.0, "viewer-2": 1.5}),
    ),
    (
        "battle: a third of the clocks off by 30 s to 3 min",
        SkewedClocks({"viewer-1": 30.0, "viewer-2": -30.0, "viewer-3": 180.0}),
    ),
]


async def run_battle_scenario(
    name: str, fault: Fault, seed: int, root: Path, sets: tuple[DjSet, DjSet], rules: Rules
) -> dict[str, Any]:
    sim = SimBattle(root, seed, clock_offsets_s=getattr(fault, "offsets_s", None))
    try:
        await sim.start()
        await sim.settle()
        return await play_battle(sim, name, fault, sets, rules)
    finally:
        await sim.close()


async def play_battle(
    sim: SimBattle, name: str, fault: Fault, sets: tuple[DjSet, DjSet], rules: Rules
) -> dict[str, Any]:
    """One battle on running nodes under ``fault``; what each node then holds (bench/soak.py plays many
    on the same nodes)."""
    spec = await sim.battle(*sets, rules)
    faulty = await fault(sim, spec)
    await sim.results(max(1.0, (spec.reveal_by - now_ms()) / 1000 + 90))
    await asyncio.sleep(30)  # late bundles (a restarted member's) still travel; then read what each holds
    # what each node counts (ratings, records, `battle show`): its best verified bundle
    held = {n: p.battles.best_result(sim.battle_id) for n, p in sim.peers.items()}
    hashes = {r.result_hash for r in held.values() if r is not None}
    decided = [r for r in held.values() if r is not None]
    names = {p.node.public_key: n for n, p in sim.peers.items()}
    agreed_at = max((r.published_at_ms for r in decided), default=None)
    return {
        "name": name,
        "battles": 1,
        "agreed": int(len(hashes) <= 1),  # no two nodes hold different results
        "within_f": faulty <= F,
        "faulty": faulty,
        "money_lost_wei": None,  # no ledger in these runs
        "audio_gap_s": None,
        "members": sim.member_names(),
        "clock_offsets_s": sim.clock_offsets_s,
        "result": "none" if not decided else ("forfeit" if decided[0].forfeit else decided[0].winner),
        "nodes_with_result": len(decided),
        "nodes_running": len(held),
        # nodes that reached the reveal deadline without a quorum of verdicts, and said so (no result, no error)
        "no_quorum": sum(
            1
            for p in sim.peers.values()
            if (state := p.battles.battles.get(sim.battle_id)) is not None and "no_quorum" in state.marks
        ),
        "result_after_sets_s": round((agreed_at - spec.sets_end) / 1000, 2) if agreed_at else None,
        "offences": sorted({o.kind for r in decided for o in r.offences}),
        "distinct_results": [
            {
                "hash": h.hex()[:12],
                "nodes": sorted(n for n, r in held.items() if r is not None and r.result_hash == h),
                "offences": sorted(
                    {
                        (names.get(o.peer, o.peer.hex()[:8]), o.kind)
                        for r in decided
                        if r.result_hash == h
                        for o in r.offences
                    }
                ),
                "revealed": sorted({r.revealed for r in decided if r.result_hash == h}),
            }
            for h in sorted(hashes)
        ],
    }
