"""`djmesh demo`: a whole battle on loopback in one command.

A bootstrap server, two DJ nodes and N viewer nodes start in this process, all real
(libp2p gossip, QUIC streams, SQLite stores in the demo home). The DJs stream six-track
sets built from real drum and bass loops (Debian's lmms-common), one clean and
beat-matched, one a train-wreck of the same kind of material. The viewers keep the signed
sets, the committee judges them with the pinned model, commits, reveals and agrees, and
the leaderboard, computed from the verified results in the store, updates. F viewers can
be made to lie; the result stands and they are named.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import time
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
import numpy as np

from djmesh.node.battle.commands import BattleCommands
from djmesh.node.battle.judging import SharedJudge
from djmesh.node.battle.lying_judge import Liar, lying_battles
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.battle.setfile import LoadedSet
from djmesh.node.config import NodeConfig
from djmesh.node.demo_ledger import SPONSOR_WEI, STAKE_WEI, WEI_PER_S, DemoLedger, Money
from djmesh.node.errors import NodeError
from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node, NodeOptions
from djmesh.node.p2p import P2PHost
from djmesh.node.services import NodeServices
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.battle import BATTLES_TOPIC, Rules
from djmesh.protocol.consensus import Result
from djmesh.protocol.messages import Profile
from djmesh.protocol.ratings import leaderboard_from_store_messages

log = logging.getLogger(__name__)

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
GENRE = "house"
BPM = 125.0
BARS_PER_TRACK = 6


@dataclass
class Participant:
    """One demo node: its services, as `djmesh node` builds them, and the battle commands the CLI uses."""

    name: str
    services: NodeServices
    liar: Liar | None = None
    money: Money | None = None

    @property
    def node(self) -> Node:
        return self.services.node

    @property
    def live(self) -> LiveService:
        return self.services.live

    @property
    def battles(self) -> BattleService:
        return self.services.battles

    @property
    def commands(self) -> BattleCommands:
        return BattleCommands(self.services)


def committee_size_for(viewers: int) -> int:
    """The largest 3f + 1 the viewers can fill."""
    return 3 * ((viewers - 1) // 3) + 1


def schedule_for(nodes: int) -> tuple[int, int]:
    """(start_in_s, accept_s) of the demo's battle for ``nodes`` nodes sharing this one process.

    The accept counts only if DJ B signs it by ``accept_by`` and every node holds it 10 s later
    (``ARRIVAL_GRACE_MS``), and a committee is drawn only from viewers whose joins both DJs hold by
    ``join_by``. Every node of the demo gossips on the same cores, so those trips slow down as nodes are
    added: with 12 nodes on a loaded machine (load 14 on 2 cores) accepts took up to 24 s and the DJs'
    rosters agreed on 6 of 10 viewers; with 32, no accept arrived in time. Three quarters of a second
    per node, never less than 6 s (the default demo's 6 nodes); the sets start twice as late, which
    leaves the joins the same share of the wait.
    """
    accept_s = max(6, (3 * nodes + 3) // 4)
    return 2 * accept_s, accept_s


def _home(root: Path, name: str) -> NodeHome:
    """A demo node's home; the key is derived from the name so reruns keep identities."""
    home = NodeHome(root / name)
    home.ensure()
    if not home.key_file.exists():
        seed = bytes(nacl.signing.SigningKey(f"djmesh-demo/{name}".encode().ljust(32, b"\0")[:32]))
        create_identity(home.key_file, seed=seed)
        home.config_file.write_text(NodeConfig(name=name).to_toml(), encoding="utf-8")
    return home


def _write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())


def build_sets(root: Path) -> tuple[DjSet, DjSet, float]:
    """DJ A's clean set, DJ B's train-wreck, and the longer set's length in seconds."""
    from djmesh.judge.synth import Defects, SetSpec, build_set

    clean = SetSpec(bpm=BPM, bars_per_track=BARS_PER_TRACK, defects=Defects(fade_bars=3))
    wreck = SetSpec(
        bpm=BPM,
        bars_per_track=BARS_PER_TRACK,
        first_track=0,
        seed=7,
        defects=Defects(
            tempo_spread=0.05, phase_ms=140.0, bar_shift_beats=1, gain_jump_db=8.0, clip_db=9.0, fade_bars=2
        ),
    )
    sets, length = [], 0.0
    root.mkdir(parents=True, exist_ok=True)
    for label, spec in (("a-clean", clean), ("b-train-wreck", wreck)):
        built = build_set(spec)
        path = root / f"set-{label}.wav"
        _write_wav(path, built.samples, built.sample_rate)
        length = max(length, built.samples.size / built.sample_rate)
        titles = tuple(f"Loop {spec.first_track + i + 1} @ {bpm:.1f}" for i, bpm in enumerate(built.bpms))
        sets.append(DjSet(str(path), titles, tuple(int(round(c * 1000)) for c in built.cues)))
    return sets[0], sets[1], length


@contextlib.asynccontextmanager
async def _participant(
    root: Path,
    name: str,
    bootstrap: list[str],
    liar: Liar | None,
    ledger: DemoLedger | None,
    *,
    dj: bool,
    judge: SharedJudge,
) -> AsyncIterator[Participant]:
    money = await ledger.fund(name) if ledger is not None else None
    services = NodeServices(
        _home(root, name),
        options=NodeOptions(listen=[LOOPBACK], bootstrap=bootstrap),
        ledger=ledger.node_ledger(money) if ledger is not None and money is not None else None,
        no_ledger_reason="the demo runs with --no-ledger",
        battles_factory=functools.partial(
            lying_battles(liar) if liar is not None else BattleService, judge=judge
        ),
        set_price_wei_per_s=WEI_PER_S if dj and ledger is not None else 0,  # listeners pay for the sets
    )
    async with services:
        if services.node.profile() is None:  # peers, the TUI and the overlay show it by this name
            await services.node.set_profile(Profile(name=name))
        if money is not None:
            money.services = services
        yield Participant(name, services, liar, money)


async def _wait(predicate: Any, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise NodeError(f"demo: timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def _wait_for_mesh(everyone: list[Participant]) -> None:
    """Until every node has a peer on the battles topic.

    Every node finds its first peers at the bootstrap's rendezvous point, which runs in this same process;
    with 30 nodes starting one after the other on a loaded machine some lookups time out, and each node
    then looks its lonely topics up again within seconds (node/topic_repair.py), as any node would. The
    wait grows with the nodes (3 s each, at least 60 s).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(60.0, 3.0 * len(everyone))
    while lonely := [p for p in everyone if not p.node.host.mesh_peers(BATTLES_TOPIC)]:
        if loop.time() > deadline:
            raise NodeError(
                f"demo: timed out waiting for the battles topic mesh ({len(lonely)} of {len(everyone)} "
                f"nodes without a peer on it: {', '.join(p.name for p in lonely[:5])})"
            )
        await asyncio.sleep(0.2)


def _verdict_rows(result: Result, viewers: list[Participant], battles: BattleService) -> list[dict[str, Any]]:
    liars = {p.node.peer_id for p in viewers if p.liar is not None}
    rows = []
    for peer, scores in battles.verdicts(result.battle_id):
        total_a, total_b = scores["a"]["total"] / 100, scores["b"]["total"] / 100
        rows.append(
            {
                "peer": peer,
                "honest": peer not in liars,
                "winner": "a" if total_a >= total_b else "b",
                "total_a": total_a,
                "total_b": total_b,
            }
        )
    return sorted(rows, key=lambda row: row["peer"])


async def run_demo(
    root: Path,
    *,
    viewers: int = 4,
    byzantine: int = 0,
    keep_running: bool = False,
    progress: Any = None,
    rpc: str | None = None,
    with_ledger: bool = True,
    ledger_ready: asyncio.Future[DemoLedger | None] | None = None,
    http: str | None = None,
) -> dict[str, Any]:
    """Run one battle; returns the summary that `djmesh demo --json` prints.

    ``http``: serve the overlay and JSON API on that address from the first viewer's node,
    from before the battle is announced until the demo ends.
    """
    if viewers < 1:
        raise NodeError("--viewers must be at least 1")
    size = committee_size_for(viewers)
    if byzantine < 0 or byzantine > (size - 1) // 3:
        raise NodeError(
            f"--byzantine {byzantine}: a committee of {size} (from {viewers} viewers) tolerates at most "
            f"{(size - 1) // 3} liars; add viewers (3F+1 are needed)"
        )

    def say(text: str) -> None:
        if progress is not None:
            progress(text)

    from djmesh.judge import JUDGE_PIN

    say("building two six-track sets from the lmms loops")
    set_a, set_b, length_s = await asyncio.to_thread(build_sets, root / "sets")
    rules = Rules.for_genre(
        GENRE,
        tracks=6,
        set_seconds=int(math.ceil(length_s)) + 2,
        model=JUDGE_PIN,
        committee_size=size,
        mode="simultaneous",
    )
    ledger = None
    if with_ledger:
        ledger = await DemoLedger.open(rpc)
        say(
            f"ledger: contracts deployed on {ledger.label} (chain {ledger.chain.chain_id}); Solana: in-process"
        )
    if ledger_ready is not None and not ledger_ready.done():
        ledger_ready.set_result(ledger)  # a watching node (the TUI's) can get wallets to pay for the sets
    boot_home = _home(root, "bootstrap")
    from djmesh.node.identity import load_identity

    boot_seed = load_identity(boot_home.key_file).seed
    async with (
        P2PHost(seed=boot_seed, listen=[LOOPBACK], serve_discovery=True) as boot,
        contextlib.AsyncExitStack() as stack,
    ):
        say(f"bootstrap listening on {boot.listen_addrs[0]}")
        bootstrap = boot.listen_addrs
        # every node of the demo runs in this process, on the same cores: members holding the same signed
        # sets share one run of the (deterministic) judge instead of running it once each, as members on
        # their own machines would run theirs side by side (node/battle/judging.py)
        judge = SharedJudge()
        dj_a = await stack.enter_async_context(
            _participant(root, "dj-a", bootstrap, None, ledger, dj=True, judge=judge)
        )
        dj_b = await stack.enter_async_context(
            _participant(root, "dj-b", bootstrap, None, ledger, dj=True, judge=judge)
        )
        crowd = []
        for i in range(viewers):
            liar = Liar(mode="random", seed=i) if i < byzantine else None
            crowd.append(
                await stack.enter_async_context(
                    _participant(root, f"viewer-{i + 1}", bootstrap, liar, ledger, dj=False, judge=judge)
                )
            )
        everyone = [dj_a, dj_b, *crowd]
        if http is not None:
            from djmesh.node.http import HttpServer

            watcher = crowd[0]
            web = await stack.enter_async_context(
                HttpServer(watcher.node, live=watcher.live, battles=watcher.battles, address=http)
            )
            say(f"overlay on {web.url}/overlay, JSON API on {web.url}/api (served by {watcher.name})")
        say(f"{len(everyone)} nodes up; waiting for the battles topic mesh")
        await _wait_for_mesh(everyone)
        start_in_s, accept_s = schedule_for(len(everyone))
        timing: dict[str, Any] = {
            "rules": rules,
            "start_in_s": start_in_s,
            "accept_s": accept_s,
            # a long window costs nothing when every member commits in time (reveals open then), and
            # lets a loaded machine finish judging instead of losing the battle to late commits
            "commit_seconds": 60,
            "reveal_seconds": 20,
            "title": "djmesh demo battle",
        }
        # the same calls as `djmesh battle challenge/accept/sponsor` (node.battle.commands); the voting
        # window (the gate entry the DJs' nodes open) of a battle without a crowd weight stays open until
        # the escrow deadline, after the result, when the demo votes (node.battle.gate_entry)
        battle_id = await dj_a.commands.challenge(
            dj_b.node.peer_id,
            LoadedSet(set_a, length_s),
            prize_wei=STAKE_WEI if ledger is not None else 0,
            **timing,
        )
        say(
            f"battle {battle_id.hex()[:16]} announced: {rules.genre}, {rules.tracks} tracks, {rules.set_seconds} s sets"
        )
        await _wait(lambda: battle_id in dj_b.battles.battles, 30, "the announcement to reach DJ B")
        await dj_b.commands.accept(battle_id, LoadedSet(set_b, length_s))
        if ledger is not None:
            await crowd[0].commands.sponsor(battle_id, SPONSOR_WEI)
            say("both DJs staked the prize in the escrow and viewer-1 sponsored it; listeners pay per second")
            await ledger.register_voters(battle_id, [p.name for p in crowd])
            say("each viewer paid a listen unit in ListenGate: one anonymous vote each")
        say("DJ B accepted; viewers join; sets start together")
        spec_state = dj_a.battles.battles[battle_id].machine.spec
        budget = (spec_state.reveal_by - int(time.time() * 1000)) / 1000 + 60
        results = await asyncio.gather(*(p.battles.wait_result(battle_id, budget) for p in everyone))
        agreed_at_ms = int(time.time() * 1000)
        agreed = [r for r in results if r is not None]
        if not agreed:
            raise NodeError("demo: no result was agreed (see the logs in the demo home)")
        result = agreed[0]
        if any(r.winner != result.winner or r.scores != result.scores for r in agreed):
            raise NodeError("demo: nodes disagree on the result")
        ledger_summary = None
        if ledger is not None:
            winner = dj_a if result.winner == "a" else dj_b
            say("viewers vote anonymously (a zero-knowledge proof each, sent through a relaying peer)")
            verdict_of = {row["peer"]: row["winner"] for row in _verdict_rows(result, crowd, dj_a.battles)}
            await ledger.vote(
                battle_id, {p.name: verdict_of.get(p.node.peer_id, result.winner) for p in crowd}
            )
            say("waiting for the committee's attestations and the escrow payout")
            escrow = winner.services.escrow
            if escrow is None or await escrow.wait_payout(battle_id, 60) is None:
                raise NodeError("demo: the escrow did not pay the winner (see the logs in the demo home)")
            await ledger.solana_prizes(
                battle_id, winner.name, crowd[0].name, [p.name for p in crowd if p.liar is None]
            )
            ledger_summary = await ledger.summary(battle_id, winner.name)
        board_source = [s.envelope for s in dj_a.node.store.query(kind="battle_result", limit=10_000)]
        leaderboard = leaderboard_from_store_messages(board_source)
        summary = {
            "battle_id": battle_id.hex(),
            "result": {
                "winner": result.winner,
                "scores": {
                    side: {k: v / 100 for k, v in row.items()} for side, row in (result.scores or {}).items()
                },
                "djs": {side: peer_id_from_public_key(key) for side, key in result.djs.items()},
                "offences": [o.as_json() for o in result.offences],
                "committee": [peer_id_from_public_key(k) for k in result.committee],
                "agreed_by": len(agreed),
                "nodes": len(everyone),
            },
            "verdicts": _verdict_rows(result, crowd, dj_a.battles),
            "leaderboard": leaderboard,
            "timing": {
                "set_seconds": rules.set_seconds,
                "commit_window_s": spec_state.commit_seconds,
                "sets_end_to_agreed_result_s": round((agreed_at_ms - spec_state.sets_end) / 1000, 2),
                # per node, seconds after the sets' end at which it passed each step (BattleService.timeline)
                "steps": {
                    p.name: {k: round(v, 2) for k, v in p.battles.timeline(battle_id).items()}
                    for p in everyone
                },
            },
        }
        if ledger_summary is not None:
            summary["ledger"] = ledger_summary
        if keep_running:
            from djmesh.node.daemon import wait_for_stop_signal

            say("--live: the network keeps running; Ctrl-C stops it")
            await wait_for_stop_signal()
        return summary


def format_summary(summary: dict[str, Any], names: dict[str, str] | None = None) -> str:
    result = summary["result"]
    djs = result["djs"]
    lines = [f"battle {summary['battle_id'][:16]}", ""]
    for side in ("a", "b"):
        row = result["scores"].get(side, {})
        crown = "  <- winner" if result["winner"] == side else ""
        lines.append(
            f"  DJ {side.upper()} {djs[side][-8:]}: total {row.get('total', 0):.2f}  "
            f"(technical {row.get('technical', 0):.2f}, musical {row.get('musical', 0):.2f}){crown}"
        )
    lines.append("")
    lines.append(
        f"  committee of {len(result['committee'])}, agreed on {result['agreed_by']}/{result['nodes']} nodes"
    )
    for verdict in summary["verdicts"]:
        flag = "honest" if verdict["honest"] else "LIAR  "
        lines.append(
            f"    {verdict['peer'][-8:]} {flag} says {verdict['winner'].upper()} "
            f"({verdict['total_a']:.2f} vs {verdict['total_b']:.2f})"
        )
    for offence in result["offences"]:
        lines.append(f"  recorded against {offence['peer'][-8:]}: {offence['kind']}")
    lines += _ledger_lines(summary.get("ledger"))
    lines.append("")
    lines.append("leaderboard")
    for genre, rows in summary["leaderboard"].items():
        for row in rows:
            lines.append(
                f"  {genre:<8} {str(row.get('peer', ''))[-8:]}  {row.get('rating')}  {row.get('wins')}W {row.get('losses')}L"
            )
    return "\n".join(lines)


def _eth(wei: str | int) -> str:
    return f"{int(wei) / 10**18:.6g} ETH"


def _ledger_lines(ledger: dict[str, Any] | None) -> list[str]:
    if not ledger:
        return []
    rows = ledger["listener_payments"]
    paid = sum(int(row["amount_wei"]) for row in rows)
    solana = ledger["solana"]
    lines = [
        "",
        f"ledger on {ledger['chain']['evm']} (chain {ledger['chain']['chain_id']})",
        f"  prize {_eth(ledger['prize_wei'])} paid by the escrow to {ledger['winner_address']}",
        f"    tx {ledger['payout_tx']}",
        f"  pay-per-listen: {len(rows)} channels closed, {_eth(paid)} paid to the DJs",
    ]
    if ledger.get("votes"):
        lines.append(f"  anonymous votes: {len(ledger['votes'])} cast through relaying peers")
    lines.append(
        f"  Solana ({ledger['chain']['solana']}): {len(solana['signatures'])} payments with the battle's memo"
    )
    return lines
