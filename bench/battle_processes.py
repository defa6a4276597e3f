"""A battle between separate `djmesh node` processes, driven as a user drives one (`bench/battle_result.py
--processes`): a bootstrap, two DJs and N viewers, each its own process with its own Python interpreter,
on loopback; the challenge, the joins and the accept through the CLI; every node's battle read through
its control API (``battle_state``, whose ``timeline`` says when, after the sets' end, the node passed each
step). No ledger (no prize): what is measured is the time from the sets' end to the result.

Unlike `djmesh demo`, which runs every node in one process (one interpreter lock, one event loop
thread per node, sharing one run of the judge), each member here judges alone, as on its own machine;
the machine's cores are still shared by every process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from djmesh.protocol.battle import BATTLES_TOPIC

LOOPBACK = "/ip4/127.0.0.1/tcp/0"
DJMESH = Path(sys.executable).with_name("djmesh")
GENRE = "house"


def write_set_files(folder: Path) -> tuple[Path, Path, float]:
    """The demo's two six-track sets (clean and train-wreck) as set TOMLs; and the longer set's seconds."""
    from djmesh.node.demo import build_sets

    set_a, set_b, length_s = build_sets(folder)
    files = []
    for name, dj_set in (("a", set_a), ("b", set_b)):
        tracks = "".join(
            f'[[tracks]]\ntitle = "{title}"\ncue = {cue / 1000:.3f}\n'
            for title, cue in zip(dj_set.titles, dj_set.cues_ms, strict=True)
        )
        toml = folder / f"set-{name}.toml"
        toml.write_text(f'source = "{Path(dj_set.source).name}"\n{tracks}', encoding="utf-8")
        files.append(toml)
    return files[0], files[1], length_s


class Cluster:
    """The processes of one run, their homes under ``root``, and a control client per node."""

    def __init__(self, root: Path, viewers: int) -> None:
        self.root = root
        self.names = ["dj-a", "dj-b", *(f"viewer-{i + 1}" for i in range(viewers))]
        self.procs: list[subprocess.Popen[str]] = []

    def home(self, name: str) -> Path:
        return self.root / name

    def cli(self, name: str, *args: str, timeout_s: float = 120.0) -> Any:
        """`djmesh --home <name> ARGS --json`'s answer; raises with its error line when it fails."""
        done = subprocess.run(
            [str(DJMESH), "--home", str(self.home(name)), *args, "--json"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{name}: djmesh {' '.join(args)}: {done.stderr.strip()[-300:]}")
        return json.loads(done.stdout) if done.stdout.strip() else None

    def start(self, name: str, *args: str) -> str:
        """Starts a long-running `djmesh` command; its first line of output (an address)."""
        return self.first_line(self.spawn(name, *args), name)

    def spawn(self, name: str, *args: str) -> subprocess.Popen[str]:
        log = (self.root / f"{name}.log").open("w")
        proc = subprocess.Popen(
            [str(DJMESH), "--home", str(self.home(name)), *args],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        self.procs.append(proc)
        return proc

    def first_line(self, proc: subprocess.Popen[str], name: str) -> str:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], 300)
        first = proc.stdout.readline().strip() if ready else ""
        if not first:
            raise RuntimeError(f"{name} did not start: see {self.root / f'{name}.log'}")
        return first

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    async def call(self, name: str, method: str, **params: Any) -> Any:
        from djmesh.node.control import ControlClient
        from djmesh.node.home import NodeHome

        return await ControlClient(NodeHome(self.home(name)), timeout_s=30).call(method, **params)

    async def wait(self, what: str, timeout_s: float, check: Any, every_s: float = 0.5) -> Any:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if found := await check():
                    return found
            await asyncio.sleep(every_s)
        raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}")


@contextlib.contextmanager
def cluster(root: Path, viewers: int) -> Iterator[Cluster]:
    nodes = Cluster(root, viewers)
    try:
        inits = [
            subprocess.Popen([str(DJMESH), "--home", str(nodes.home(n)), "init", "--name", n, "--json"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            for n in nodes.names
        ]  # fmt: skip
        if any(init.wait() != 0 for init in inits):
            raise RuntimeError("`djmesh init` failed")
        boot = nodes.start("bootstrap", "bootstrap", "--listen", LOOPBACK)
        started = [nodes.spawn(n, "node", "--listen", LOOPBACK, "--bootstrap", boot) for n in nodes.names]
        for name, proc in zip(nodes.names, started, strict=True):
            nodes.first_line(proc, name)
        yield nodes
    finally:
        nodes.stop()


async def _battle(
    nodes: Cluster, committee: int, set_a: Path, set_b: Path, set_seconds: int
) -> dict[str, Any]:
    """Runs one battle; every node's ``battle_state`` once all hold a result (or the wait ran out)."""
    every = nodes.names

    async def all_meshed() -> bool:
        """Every node has a mesh peer on the battles topic (as a user waits to see peers before challenging)."""
        states = await asyncio.gather(*(nodes.call(n, "status") for n in every))
        return all(s["gossip"]["topics"].get(BATTLES_TOPIC, {}).get("mesh", 0) >= 1 for s in states)

    started = time.monotonic()
    await nodes.wait("every node to have a mesh peer on the battles topic", 300, all_meshed)
    print(f"  every node meshed {time.monotonic() - started:.0f} s after they all started", file=sys.stderr)
    dj_b = (await nodes.call("dj-b", "id"))["peer_id"]
    start_in = 40 + 2 * (len(every) - 2)  # 32 processes on 2 cores: the CLI alone takes seconds per command
    made = nodes.cli(
        "dj-a", "battle", "challenge", dj_b, "--genre", GENRE, "--tracks", "6", "--set-seconds",
        str(set_seconds), "--start-in", str(start_in), "--set", str(set_a), "--committee-size", str(committee),
    )  # fmt: skip
    battle_id = str(made["battle_id"])

    async def holds_it(name: str) -> bool:
        with contextlib.suppress(Exception):
            return bool(await nodes.call(name, "battle_state", battle_id=battle_id))
        return False

    async def known_everywhere() -> bool:
        return all(await asyncio.gather(*(holds_it(n) for n in every)))

    challenged = time.monotonic()
    try:
        await nodes.wait("the challenge to reach every node", 120, known_everywhere)
        print(f"  the challenge reached every node in {time.monotonic() - challenged:.1f} s", file=sys.stderr)
    except RuntimeError:
        held = await asyncio.gather(*(holds_it(n) for n in every))
        lacking = [n for n, has in zip(every, held, strict=True) if not has]
        statuses = await asyncio.gather(*(nodes.call(n, "status") for n in every), return_exceptions=True)
        by_name = dict(zip(every, statuses, strict=True))
        for name in lacking:
            print(f"  {name} lacks the challenge: status {by_name[name]}", file=sys.stderr, flush=True)
        dump = nodes.root / "status.json"
        dump.write_text(
            json.dumps({n: s if isinstance(s, dict) else repr(s) for n, s in by_name.items()}, indent=1)
        )
        print(f"  every node's status: {dump}", file=sys.stderr, flush=True)
        raise
    nodes.cli("dj-b", "battle", "accept", battle_id, "--set", str(set_b))
    joins = [
        subprocess.Popen([str(DJMESH), "--home", str(nodes.home(n)), "battle", "join", battle_id, "--json"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        for n in every[2:]
    ]  # fmt: skip
    for name, join in zip(every[2:], joins, strict=True):
        _, err = join.communicate(timeout=120)
        if join.returncode != 0:
            raise RuntimeError(f"{name}: battle join: {err.strip()[-300:]}")
    state = await nodes.call("dj-a", "battle_state", battle_id=battle_id)
    sets_end_in_s = max(w[1] for w in state["windows"].values()) / 1000 - time.time()
    print(f"  battle {battle_id[:16]}: sets end in {sets_end_in_s:.0f} s", file=sys.stderr, flush=True)
    await asyncio.sleep(max(0.0, sets_end_in_s))

    async def all_results() -> list[dict[str, Any]] | None:
        states = await asyncio.gather(*(nodes.call(n, "battle_state", battle_id=battle_id) for n in every))
        cancelled = [s for s in states if s["phase"] == "cancelled"]
        if cancelled or all(s["result"] for s in states):
            return states
        return None

    try:
        states = await nodes.wait("a result at every node", 120, all_results, every_s=1.0)
    except RuntimeError as exc:
        print(f"  {exc}", file=sys.stderr, flush=True)
    states = await asyncio.gather(*(nodes.call(n, "battle_show", battle_id=battle_id) for n in every))
    gossip = [s["gossip"] for s in await asyncio.gather(*(nodes.call(n, "status") for n in every))]
    unsent = sorted(g.get("unsent", 0) for g in gossip)
    print(
        f"  gossip: messages dropped on their way out (full queues) per node: median {unsent[len(unsent) // 2]},"
        f" max {unsent[-1]}, total {sum(unsent)}; received in all {sum(g['received'] for g in gossip)}",
        file=sys.stderr,
    )
    return {"battle_id": battle_id, "states": dict(zip(every, states, strict=True))}


def run_processes(viewers: int, root: Path, committee: int | None = None) -> dict[str, Any] | None:
    """A summary shaped like `djmesh demo --json`'s (``timing.sets_end_to_agreed_result_s``, ``timing.steps``,
    ``result``), or None when the nodes did not all agree on a result (why is printed)."""
    from djmesh.node.demo import committee_size_for

    set_a, set_b, length_s = write_set_files(root / "sets")
    committee = committee or committee_size_for(viewers)
    with cluster(root, viewers) as nodes:
        ran = asyncio.run(_battle(nodes, committee, set_a, set_b, int(length_s) + 3))
    states: dict[str, dict[str, Any]] = ran["states"]
    results = {name: s["result"] for name, s in states.items()}
    held = [r for r in results.values() if r]
    if len(held) < len(states):
        phases = sorted({s["phase"] for s in states.values()})
        print(
            f"  {viewers} viewers: {len(held)}/{len(states)} nodes hold a result (phases {phases})",
            flush=True,
        )
        return None
    agreed = len({json.dumps([r["winner"], r["scores"]], sort_keys=True) for r in held}) == 1
    steps = {name: s["timeline"] for name, s in states.items()}
    finished = [t["result"] for t in steps.values() if "result" in t]
    first = next(iter(states.values()))
    return {
        "battle_id": ran["battle_id"],
        "result": {
            "committee": first.get("committee") or [None] * committee,
            "agreed_by": len(held) if agreed else 0,
            "nodes": len(states),
            "winner": first["result"]["winner"],
        },
        "timing": {
            "sets_end_to_agreed_result_s": round(max(finished), 2) if finished else None,
            "median_node_result_s": round(statistics.median(finished), 2) if finished else None,
            "commit_window_s": 30,
            "steps": steps,
        },
    }
