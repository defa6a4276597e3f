"""Hostile load: how an honest node fares while hostile peers send the worst mix the limits allow.

The honest node runs alone in a child process (real ``Node``, ``LiveService`` and ``BattleService`` on
loopback), so its event loop carries only its own work; a ticker task there sleeps 1 ms in a loop and each
tick's lateness is the loop's lag (what libp2p, gossip and playout wait). On a machine with two or more CPUs
it also has CPU 0 to itself and everything else runs on the others: in the world the attackers are machines
of their own, and what their sending costs them is not the honest node's cost. The DJ and the two other
listeners, too, are processes of their own, so a stalled bench process cannot pass for a gap the attack (or the
move off the liar) caused. The parent process runs:

- honest traffic: five authors the honest node follows, posting 4 messages/s each (20 msg/s in all), and a
  DJ (in a process of its own) streaming a live sine to the honest node and two other listeners (one process
  each);
- hostile peers (``hostile`` scenario only), each a bare libp2p host with its own key, all connected to the
  honest node:
  - a *flood*: a followed author posting 200 messages/s (the inbox allows 20 at once, then 5/s);
  - *nested*: validly self-signed 64 KiB envelopes of deeply nested CBOR, on the battles topic, 50/s;
  - *forged*: envelopes naming the honest authors with signatures that do not verify, 100/s;
  - *invalid bundles*: a forged battle result (the winner flipped) under ever new content IDs, 20/s;
  - *battle spam*: battle announcements from Sybil DJs, 20/s;
  - *sync abuse*: history-sync requests for everything the honest node has, 20/s from each hostile host.

  With ``--sybils`` an attacker whose send stalls for 1 s (the honest node graylisted it and stopped reading
  it) goes on from a fresh libp2p key and connection; the output counts the identities each attack used.

The tree of the live stream is the same in both runs: the DJ has room for one child, taken by a relay that
joins first (in a process of its own), so the three listeners (the honest node among them) join below it;
once they are in, the DJ gets room for more. In the ``hostile`` run that relay then turns into a *lying
relay* (``tests/helpers/lying_relay.py``, the liar of tests/node/sim/test_lying_relay.py): it admits anyone
and forges every frame it forwards (the signatures pass on, so the forgery is exposed at the segment's end).
Its listeners must leave it (for the DJ) and keep none of its audio; what they heard of it is counted.

Printed side by side: the ``quiet`` run (honest traffic only) and the ``hostile`` run: event-loop lag
p50/p99/max on the honest node, honest messages delivered, the honest node's lost frames and longest gap, how
many listeners left the lying relay, the forged frames they played (and kept: must be 0), the worst gap of
any listener, the silence a sound device would have played (``audio gap``: the sum over listeners; the
queue of ``DEVICE_LEAD_S`` ahead of the device rides over shorter pauses), and what the honest node dropped, by
reason. Per listener (``--json``): ``max_gap_ms``, the longest pause between two frames played (a stalled
process counts too); ``audio_gap_ms`` and ``underruns``, the silence a device fed by that playout would have
played between audio, and how many times (node/live/device_queue.py); ``unplayed_run``, the most frames in a
row not played (concealed or skipped: a hole in the audio itself); ``move_gap_ms``, the pause from the last
forged frame played to the first genuine one (leaving the liar).

    .venv/bin/python bench/hostile.py               # 30 s per scenario
    .venv/bin/python bench/hostile.py --seconds 20 --json
    .venv/bin/python bench/hostile.py --seconds 20 --json --sybils
    .venv/bin/python bench/hostile.py --seconds 20 --json --sybils --verified-playout
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import nacl.signing

from bench.loop_stalls import StallSampler
from bench.roles import read_line, spawn, tell
from bench.sync_stall import PreEncodedEnvelopes, hostile_payload
from djmesh.node.battle.service import BattleService
from djmesh.node.live import LiveService
from djmesh.node.live.errors import LiveError
from djmesh.node.live.hub import Address
from djmesh.node.live.service import DEFAULT_MAX_CHILDREN
from djmesh.node.live.subscription import Subscription
from djmesh.node.p2p import P2PHost
from djmesh.node.p2p.gossip import GossipConfig
from djmesh.protocol import Post, cbor, sign
from djmesh.protocol.battle import BATTLES_TOPIC, BattleAnnounce, Rules
from djmesh.protocol.committee import seed_commitment
from djmesh.protocol.envelope import SIGNING_CONTEXT
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.stream import Playout
from djmesh.protocol.sync import SYNC_PROTOCOL_ID, SyncRequest
from djmesh.protocol.topics import author_topic
from tests.helpers.lying_relay import ForgedAudio, is_forged, make_liar
from tests.helpers.network import LOOPBACK, bootstrap_server, make_node, wait_until
from tests.protocol.battle_helpers import MODEL, Battle, judged_result, with_winner

SOURCE = "lavfi:sine=frequency=440"
AUTHORS = [f"author{i}" for i in range(5)]
HONEST_RATE = 4.0  # messages/s per honest author: 20 msg/s in all
# An attacker does not pace itself as an honest host does, nor wait for one send before the next.
UNPACED = GossipConfig(
    max_messages_per_topic_per_second=100_000, publish_rate_per_s=10_000, publish_burst=10_000
)
ATTACK_IN_FLIGHT = 64
HOSTILE = {"flood": 1, "nested": 2, "forged": 3, "bundles": 4, "spam": 5}  # attack -> key seed


def key_of(name: str) -> nacl.signing.SigningKey:
    """The deterministic key ``make_home`` gives a node of that name."""
    return nacl.signing.SigningKey(name.encode().ljust(32, b"\0")[:32])


def hostile_key(attack: str) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([HOSTILE[attack]]) * 32)


def now_ms() -> int:
    return int(time.time() * 1000)


# -- the honest node (child process) -----------------------------------------------------------------


async def honest_node(
    root: Path, boot: list[str], stall_ms: float | None = None, verified_playout: bool = False
) -> None:
    sampler = StallSampler(stall_ms) if stall_ms is not None else None
    node = make_node(root, "honest", boot)
    live_service = LiveService(node, verified_playout=verified_playout)
    async with node, live_service as live, BattleService(node, live, auto_join=True):
        for name in AUTHORS:
            await node.follow(peer_id_from_public_key(bytes(key_of(name).verify_key)))
        await node.follow(peer_id_from_public_key(bytes(hostile_key("flood").verify_key)))
        print(json.dumps({"addrs": node.listen_addrs, "peer_id": node.peer_id}), flush=True)
        order = json.loads(await asyncio.to_thread(sys.stdin.readline))
        lags: list[float] = []
        stop = asyncio.Event()

        async def ticker() -> None:
            while not stop.is_set():
                start = time.perf_counter()
                await asyncio.sleep(0.001)
                lags.append((time.perf_counter() - start) * 1000 - 1.0)
                if sampler is not None:
                    sampler.beat()

        if sampler is not None:
            sampler.start()
        ticking = asyncio.ensure_future(ticker())
        audio: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            audio = await listen_below(live, order["stream"], order["seconds"], tuple(order["relay"]))
        except LiveError as exc:  # reported, not hidden: the honest node heard nothing
            audio = {"audio_error": str(exc)}
            await asyncio.sleep(max(0.0, order["seconds"] - (time.perf_counter() - started)))
        await asyncio.sleep(3)  # the last honest posts in flight
        stop.set()
        await ticking
        if sampler is not None:
            sampler.stop()
            print(sampler.report(), file=sys.stderr, flush=True)
        delivered = sum(
            len(node.store.query(author=bytes(key_of(name).verify_key), kind="post", limit=100_000))
            for name in AUTHORS
        )
        lags.sort()
        print(
            json.dumps(
                {
                    "lag_p50_ms": round(statistics.median(lags), 1),
                    "lag_p99_ms": round(lags[int(len(lags) * 0.99)], 1),
                    "lag_max_ms": round(lags[-1], 1),
                    "delivered": delivered,
                    **audio,
                    "dropped": dict(sorted(node.dropped.items())),
                }
            ),
            flush=True,
        )


class MoveGap:
    """A listener's tap: the most frames in a row it did not play (concealed or skipped: a gap in the audio
    itself), and the longest pause from a forged frame played to the next genuine one (leaving the liar).

    ``max_gap_ms`` (the longest pause between any two frames played) also counts the moments the listener's
    process, or one upstream, did not run (in the quiet run too); these two say what the move itself cost."""

    def __init__(self) -> None:
        self.unplayed_run = 0
        self.move_gap_ms: float | None = None
        self._last_seq: int | None = None
        self._forged_at: float | None = None

    def on_playout(self, item: Playout, now_us: int) -> None:
        if item.payload is None:
            return
        if self._last_seq is not None:
            self.unplayed_run = max(self.unplayed_run, item.seq - self._last_seq - 1)
        self._last_seq = item.seq
        now = time.perf_counter()
        if is_forged(item.payload):
            self._forged_at = now
        elif self._forged_at is not None:
            gap_ms = (now - self._forged_at) * 1000
            self.move_gap_ms = max(self.move_gap_ms or 0.0, gap_ms)
            self._forged_at = None

    def on_segment(self, segment: object) -> None:
        pass

    def on_end(self, error: str | None) -> None:
        pass


async def listen_below(live: LiveService, stream_id: str, seconds: float, relay: Address) -> dict[str, Any]:
    """Listen to the stream; the audio figures and what became of the relay the listener joined below."""
    source = await live.subscribe(stream_id)
    assert isinstance(source, Subscription)
    forged, move = ForgedAudio(), MoveGap()
    source.taps.add(forged)
    source.taps.add(move)
    stats = await live.listen(stream_id, seconds=seconds)
    return {
        "lost_frames": stats.lost_frames,
        "played_frames": stats.played_frames,
        "max_gap_ms": round(stats.max_gap_ms, 1),
        "audio_gap_ms": stats.audio_gap_ms,
        "underruns": stats.underruns,
        "unplayed_run": move.unplayed_run,
        "move_gap_ms": None if move.move_gap_ms is None else round(move.move_gap_ms, 1),
        "below_relay": source.parent_address == relay or any(a == relay for a, _ in source.left_bad),
        "left_relay": [reason for address, reason in source.left_bad if address == relay][:1],
        "forged_played": forged.played,
        "forged_recorded": forged.recorded,
    }


# -- the hostile mix ---------------------------------------------------------------------------------


def _forged(victim: bytes, key: nacl.signing.SigningKey, at: int) -> bytes:
    unsigned = {"v": 1, "k": "post", "a": victim, "t": at, "p": {"text": "forged"}}
    return cbor.encode({**unsigned, "s": key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature})


async def _every(
    rate: float, seconds: float, send: Callable[[int], Awaitable[None]], in_flight: int = 1
) -> int:
    """Call ``send(i)`` ``rate`` times a second for ``seconds``, at most ``in_flight`` at once; returns how
    many were started.

    A send that takes over 5 s is given up (a publish stuck on a dead connection must not hang the run)."""
    room = asyncio.Semaphore(in_flight)
    running: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        try:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(send(i), 5)
        finally:
            room.release()

    start = time.perf_counter()
    sent = 0
    while (elapsed := time.perf_counter() - start) < seconds:
        due = int(elapsed * rate) + 1
        while sent < due and time.perf_counter() - start < seconds:
            await room.acquire()
            task = asyncio.ensure_future(one(sent))
            running.add(task)
            task.add_done_callback(running.discard)
            sent += 1
        await asyncio.sleep(min(0.05, 1 / rate))
    await asyncio.gather(*running)
    return sent


SYBIL_STALL_S = 1.0  # a send that takes this long: the honest node has stopped reading this identity


class Identities:
    """One attack's libp2p identity, and with ``sybils`` the next ones: when a send stalls (the honest node
    graylisted this peer and stopped reading it), the attack goes on from a fresh key and connection, as a
    Sybil would. The messages keep their signing keys; only the transport identity changes."""

    def __init__(self, attack: str, honest: dict[str, Any], sybils: bool) -> None:
        self.attack = attack
        self.used = 0
        self._honest = honest
        self._sybils = sybils
        self._host: P2PHost | None = None
        self._rotating: asyncio.Task[None] | None = None
        self._hosts: list[P2PHost] = []

    async def start(self) -> None:
        self._host = await self._fresh(bytes(hostile_key(self.attack)))

    @property
    def host(self) -> P2PHost:
        assert self._host is not None
        return self._host

    async def _fresh(self, seed: bytes) -> P2PHost:
        host = P2PHost(seed=seed, listen=[LOOPBACK], gossip=UNPACED)
        await host.__aenter__()
        self._hosts.append(host)
        for topic in (BATTLES_TOPIC, author_topic(bytes(hostile_key(self.attack).verify_key))):
            await host.subscribe(topic, validator=lambda d, o: True, on_message=lambda d, o: None)
        await host.connect(self._honest["addrs"][0])
        self.used += 1
        return host

    async def send(self, call: Callable[[P2PHost], Awaitable[object]]) -> None:
        """``call`` on the current identity (``_every`` gives any send up after 5 s; a Sybil after 1 s)."""
        host = self.host
        if not self._sybils:
            await call(host)
            return
        try:
            await asyncio.wait_for(call(host), SYBIL_STALL_S)
        except TimeoutError:
            if host is self._host and self._rotating is None:
                self._rotating = asyncio.ensure_future(self._rotate())
            raise

    async def _rotate(self) -> None:
        try:
            self._host = await self._fresh(os.urandom(32))
        except Exception as exc:  # the honest node refused the connection: try again on the next stall
            print(f"hostile: a fresh {self.attack} identity could not connect: {exc}", file=sys.stderr)
        finally:
            self._rotating = None

    async def close(self) -> None:
        if self._rotating is not None:
            self._rotating.cancel()
        for host in self._hosts:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(host.__aexit__(None, None, None), 5)


async def hostile_mix(
    stack: contextlib.AsyncExitStack, honest: dict[str, Any], seconds: float, sybils: bool = False
) -> tuple[dict[str, asyncio.Future[int]], dict[str, Identities]]:
    ids: dict[str, Identities] = {}
    for attack in HOSTILE:
        ids[attack] = Identities(attack, honest, sybils)
        stack.push_async_callback(ids[attack].close)
        await ids[attack].start()
    nested_key = hostile_key("nested")
    # as many nested trees as 64 KiB holds, encoded once
    nested_envelopes = PreEncodedEnvelopes(nested_key, hostile_payload(nested_key, now_ms()))
    flipped = with_winner(judged_result(Battle(committee_size=4)), "b")
    victims = [bytes(key_of(name).verify_key) for name in AUTHORS]
    sync_request = SyncRequest((*(author_topic(v) for v in victims), BATTLES_TOPIC), since_ms=0).encode()
    flood_key, bundle_key = hostile_key("flood"), hostile_key("bundles")

    async def flood(i: int) -> None:
        wire = sign(Post(f"flood {i}"), flood_key, created_at_ms=now_ms()).wire
        await ids["flood"].send(lambda h: h.publish(author_topic(bytes(flood_key.verify_key)), wire))

    async def nested(i: int) -> None:
        wire = nested_envelopes.wire(now_ms() - i)
        await ids["nested"].send(lambda h: h.publish(BATTLES_TOPIC, wire))

    async def forged(i: int) -> None:
        victim = victims[i % len(victims)]
        wire = _forged(victim, hostile_key("forged"), now_ms())
        await ids["forged"].send(lambda h: h.publish(author_topic(victim), wire))

    async def bundles(i: int) -> None:
        wire = sign(flipped, bundle_key, created_at_ms=now_ms() - i).wire
        await ids["bundles"].send(lambda h: h.publish(BATTLES_TOPIC, wire))

    async def spam(i: int) -> None:
        sybil = nacl.signing.SigningKey(i.to_bytes(4, "big").ljust(32, b"\1"))
        at = now_ms()
        announce = BattleAnnounce(
            opponent=bytes(sybil.verify_key),
            rules=Rules.for_genre("house", model=MODEL, committee_size=4),
            accept_by=at + 10_000,
            join_by=at + 20_000,
            start_at=at + 30_000,
            commit_seconds=30,
            reveal_seconds=30,
            seed_commit=seed_commitment(bytes(32)),
        )
        wire = sign(announce, hostile_key("spam"), created_at_ms=at).wire
        await ids["spam"].send(lambda h: h.publish(BATTLES_TOPIC, wire))

    async def sync_abuse(i: int) -> None:
        await asyncio.gather(
            *(
                one.send(lambda h: h.request(honest["peer_id"], SYNC_PROTOCOL_ID, sync_request, timeout_s=5))
                for one in ids.values()
            ),
            return_exceptions=True,
        )

    return {
        send.__name__: asyncio.ensure_future(_every(rate, seconds, send, in_flight=ATTACK_IN_FLIGHT))
        for rate, send in (
            (200, flood),
            (50, nested),
            (100, forged),
            (20, bundles),
            (20, spam),
            (20, sync_abuse),
        )
    }, ids


async def hostile_peers(honest: dict[str, Any], seconds: float, sybils: bool) -> None:
    """The hostile mix in a process of its own, so it neither slows nor is slowed by the honest senders."""
    async with contextlib.AsyncExitStack() as stack:
        attacks, ids = await hostile_mix(stack, honest, seconds, sybils)
        print(json.dumps({"started": True}), flush=True)
        await asyncio.gather(*attacks.values(), return_exceptions=True)
        sent: dict[str, Any] = {attack: task.result() for attack, task in attacks.items()}
        sent["identities"] = {attack: one.used for attack, one in ids.items()}
        print(json.dumps(sent), flush=True)


# -- one scenario ------------------------------------------------------------------------------------


def cpu_plan() -> tuple[set[int], set[int]] | None:
    """CPUs for the honest node alone, and for everything else; None on a one-CPU machine."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    return {cpus[0]}, set(cpus[1:])


def _spawn(stack: contextlib.ExitStack, *args: str, cpus: set[int] | None = None) -> subprocess.Popen[str]:
    child = spawn(__file__, *args, cpus=cpus)
    stack.callback(child.kill)
    return child


async def scenario(
    name: str,
    seconds: float,
    root: Path,
    stall_ms: float | None = None,
    sybils: bool = False,
    verified_playout: bool = False,
) -> dict[str, Any]:
    with contextlib.ExitStack() as children:
        async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
            return await _scenario(
                name, seconds, root, boot, children, stack, stall_ms, sybils, verified_playout
            )


async def _scenario(
    name: str,
    seconds: float,
    root: Path,
    boot: list[str],
    children: contextlib.ExitStack,
    stack: contextlib.AsyncExitStack,
    stall_ms: float | None,
    sybils: bool,
    verified_playout: bool,
) -> dict[str, Any]:
    profile = ["--sample-stalls", str(stall_ms)] if stall_ms is not None else []
    profile += ["--verified-playout"] if verified_playout else []
    plan = cpu_plan()  # the others inherit the bench's own CPUs (``run``)
    child = _spawn(
        children,
        "--role",
        "honest",
        "--root",
        str(root),
        "--boot",
        json.dumps(boot),
        *profile,
        cpus=plan[0] if plan is not None else None,
    )
    assert child.stdin is not None
    honest = await read_line(child)
    beside_honest = ["--root", str(root), "--boot", json.dumps(boot), "--honest", json.dumps(honest)]
    dj = _spawn(children, "--role", "dj", *beside_honest)
    assert dj.stdin is not None
    stream_id = (await read_line(dj))["stream"]
    playout = ["--verified-playout"] if verified_playout else []
    listeners = [
        _spawn(children, "--role", "listener", "--index", str(index), *beside_honest, *playout)
        for index in (2, 3)
    ]
    for listener in listeners:
        await read_line(listener)  # connected to the honest node
    authors = []
    for author in AUTHORS:
        authors.append(await stack.enter_async_context(make_node(root, author, boot)))
    for node in authors:
        await node.connect(honest["addrs"][0])
    await wait_until(
        lambda: all(a.host.mesh_peers(author_topic(a.public_key)) for a in authors), what="meshes"
    )
    lie = ["--lie", "forges"] if name == "hostile" else []
    relay_child = _spawn(children, "--role", "relay", *beside_honest, "--stream", stream_id, *lie)
    relay = tuple((await read_line(relay_child))["address"])
    hostile = None
    if name == "hostile":
        hostile = _spawn(
            children,
            "--role",
            "hostile",
            "--honest",
            json.dumps(honest),
            "--seconds",
            str(seconds + 5),
            *(["--sybils"] if sybils else []),
        )
        await read_line(hostile)
    order = {"stream": stream_id, "seconds": seconds, "relay": relay}
    tell(child, order)
    for listener in listeners:
        tell(listener, order)
    others = [asyncio.ensure_future(read_line(listener)) for listener in listeners]
    room = asyncio.ensure_future(_room_for_all(dj, relay_child))

    async def honest_posts(author: Any) -> int:
        return await _every(HONEST_RATE, seconds, lambda i: author.post(f"honest {i}"))

    sent = sum(await asyncio.gather(*(honest_posts(a) for a in authors)))
    report = await read_line(child)
    heard = [report, *await asyncio.gather(*others, return_exceptions=True)]
    room.cancel()
    for one in (child, *listeners):
        assert one.stdin is not None
        one.stdin.close()
        one.wait(timeout=30)
    dj.stdin.close()
    hostile_sent = await read_line(hostile) if hostile is not None else {}
    return {
        "scenario": name,
        "honest_sent": sent,
        "hostile_sent": hostile_sent,
        **report,
        "listeners": [h if isinstance(h, dict) else {"audio_error": str(h)} for h in heard],
    }


async def _room_for_all(dj: subprocess.Popen[str], relay: subprocess.Popen[str]) -> None:
    """Once the three listeners joined below the relay (it says so, or gives up after 10 s), the DJ has
    room for them."""
    with contextlib.suppress(RuntimeError):
        await read_line(relay)
    tell(dj, "room")


async def dj_node(root: Path, boot: list[str], honest: dict[str, Any]) -> None:
    """The DJ, in a process of its own: room for the relay only, until the bench says there is room for all."""
    node = make_node(root, "dj", boot)
    async with node, LiveService(node, max_children=1) as dj:
        await node.connect(honest["addrs"][0])
        stream_id = await dj.start_stream(SOURCE, title="hostile bench")
        print(json.dumps({"stream": stream_id}), flush=True)
        if await asyncio.to_thread(sys.stdin.readline):
            for broadcast in dj._broadcasts.values():
                broadcast.hub.max_children = DEFAULT_MAX_CHILDREN
        await asyncio.to_thread(sys.stdin.read)  # until the bench is done with it


async def listener_node(
    root: Path, boot: list[str], honest: dict[str, Any], index: int, verified_playout: bool
) -> None:
    """One of the two other listeners, in a process of its own: a stall of the bench's process (five authors
    posting) must not pass for a gap the move off the liar caused, nor one listener's for the other's."""
    node = make_node(root, f"listener{index}", boot)
    async with node, LiveService(node, verified_playout=verified_playout) as live:
        await node.connect(honest["addrs"][0])
        print(json.dumps({"ready": True}), flush=True)
        order = json.loads(await asyncio.to_thread(sys.stdin.readline))
        try:
            heard = await listen_below(live, order["stream"], order["seconds"], tuple(order["relay"]))
        except LiveError as exc:
            heard = {"audio_error": str(exc)}
        print(json.dumps(heard), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the bench is done with it


async def relay_node(
    root: Path, boot: list[str], honest: dict[str, Any], stream_id: str, lie: str | None
) -> None:
    """The relay all three listeners join below: honest, or (``lie``) a lying relay. In a process of its own."""
    node = make_node(root, "relay", boot)
    async with node, LiveService(node) as live:
        await node.connect(honest["addrs"][0])
        relay = await live.subscribe(stream_id)
        assert isinstance(relay, Subscription) and relay.hops == 1, "the DJ's one slot must be the relay's"
        print(json.dumps({"address": live.address}), flush=True)
        deadline = time.perf_counter() + 10
        while len(relay.hub.children) < 3 and time.perf_counter() < deadline:
            await asyncio.sleep(0.02)
        if lie is not None:  # once all three are below it (and the DJ has room for them to move to)
            make_liar(relay.hub, lie)
        print(json.dumps({"joined": len(relay.hub.children)}), flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the bench is done with it


async def run(
    seconds: float,
    as_json: bool,
    stall_ms: float | None = None,
    sybils: bool = False,
    verified_playout: bool = False,
) -> None:
    plan = cpu_plan()
    if plan is not None:  # the bench's own process (authors, two listeners) shares the DJ's CPUs
        os.sched_setaffinity(0, plan[1])
    rows = []
    for name in ("quiet", "hostile"):
        with tempfile.TemporaryDirectory() as root:
            rows.append(await scenario(name, seconds, Path(root), stall_ms, sybils, verified_playout))
    if as_json:
        cores = {"honest": sorted(plan[0]), "others": sorted(plan[1])} if plan is not None else None
        options = {"sybils": sybils, "verified_playout": verified_playout}
        print(json.dumps({"seconds": seconds, **options, "cpus": cores, "rows": rows}, indent=2))
        return
    where = (
        f"alone on CPU {min(plan[0])}, the rest on CPUs {sorted(plan[1])}"
        if plan is not None
        else "sharing the only CPU"
    )
    print(f"{seconds:.0f} s per scenario; honest node in its own process, {where}")
    print(
        f"{'scenario':<9} {'lag p50':>8} {'lag p99':>8} {'lag max':>8} {'delivered':>12} {'lost fr':>8}"
        f" {'max gap':>8} {'left relay':>10} {'forged heard/kept':>17} {'worst gap':>9} {'audio gap':>9}  dropped"
    )
    for row in rows:
        delivered = f"{row['delivered']}/{row['honest_sent']}"
        heard = [h for h in row["listeners"] if "audio_error" not in h]
        below = [h for h in heard if h["below_relay"]]
        left = f"{sum(1 for h in below if h['left_relay'])}/{len(below)}"
        forged = f"{sum(h['forged_played'] for h in heard)}/{sum(h['forged_recorded'] for h in heard)}"
        worst = max((h["max_gap_ms"] for h in heard), default="-")
        silence = round(sum(h["audio_gap_ms"] for h in heard), 1)
        print(
            f"{row['scenario']:<9} {row['lag_p50_ms']:>8} {row['lag_p99_ms']:>8} {row['lag_max_ms']:>8}"
            f" {delivered:>12} {row.get('lost_frames', '-'):>8} {row.get('max_gap_ms', '-'):>8}"
            f" {left:>10} {forged:>17} {worst:>9} {silence:>9}  {row['dropped']}"
        )
        for index, listener in enumerate(row["listeners"]):
            if "audio_error" in listener:
                who = "the honest node" if index == 0 else f"listener {index + 1}"
                print(f"  {row['scenario']}: {who} heard nothing: {listener['audio_error']}")
    print(f"hostile messages sent: {rows[-1]['hostile_sent']}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--sample-stalls",
        type=float,
        metavar="MS",
        help="profile: sample the honest node's stack while its loop is held over MS; the counts go to stderr",
    )
    parser.add_argument(
        "--role",
        choices=["bench", "dj", "honest", "hostile", "listener", "relay"],
        default="bench",
        help=argparse.SUPPRESS,
    )
    parser.add_argument(
        "--sybils",
        action="store_true",
        help="an attacker the honest node stops reading goes on under a fresh libp2p key (Sybils)",
    )
    parser.add_argument(
        "--verified-playout",
        action="store_true",
        help="the three listeners play only frames whose segment verified (as `listen --verified-playout`)",
    )
    parser.add_argument("--stream", help=argparse.SUPPRESS)
    parser.add_argument("--index", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--lie", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    parser.add_argument("--boot", help=argparse.SUPPRESS)
    parser.add_argument("--honest", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role == "honest":
        asyncio.run(
            honest_node(Path(args.root), json.loads(args.boot), args.sample_stalls, args.verified_playout)
        )
    elif args.role == "relay":
        asyncio.run(
            relay_node(Path(args.root), json.loads(args.boot), json.loads(args.honest), args.stream, args.lie)
        )
    elif args.role == "listener":
        asyncio.run(
            listener_node(
                Path(args.root),
                json.loads(args.boot),
                json.loads(args.honest),
                args.index,
                args.verified_playout,
            )
        )
    elif args.role == "dj":
        asyncio.run(dj_node(Path(args.root), json.loads(args.boot), json.loads(args.honest)))
    elif args.role == "hostile":
        asyncio.run(hostile_peers(json.loads(args.honest), args.seconds, args.sybils))
    else:
        asyncio.run(run(args.seconds, args.json, args.sample_stalls, args.sybils, args.verified_playout))


if __name__ == "__main__":
    main()
