"""TUI input latency and quit time: key press to screen update while a battle streams and is judged.

The app runs headless (Textual's ``run_test``) as ``tui --demo`` runs it: the demo network (bootstrap,
2 DJs, 4 viewers, the ledger) and the node watching it run in a child process, and the app attaches
to that node's control API, taking the live meters and the heard DJ's audio from it
(``DemoBackend``). Each sample presses ``+`` or ``-`` on the Battle screen: the key event goes into
the app's queue as the terminal driver would put it there, and the time runs until the first frame
that shows the new volume on the Battle screen has been rendered to terminal bytes (the headless
driver skips writing them; this benchmark renders each frame so that cost counts). Rows, side by
side, with the CPU the app's process used meanwhile:

  idle       the app with its node in-process, alone on loopback (no peers, no streams): the reference
  sets       ``--demo``: both DJs streaming, their meters drawn, DJ A heard (its samples sent to the
             app and played into a null sink, as a sound device would take them)
  judging    the same, after the sets: the committee judges the signed sets, commits and reveals
  quit       ``q`` to the app's screen gone, while the demo runs (the network stops in its child,
             after the app has left)

``--in-process`` runs the demo rows the way ``tui --demo`` used to: the whole network in the app's
own process and event loop (``NodeBackend(demo_root=...)``), for comparison.

``--terminal N`` also times ``q`` in a real terminal (tmux) N times: ``djmesh tui --demo`` is started,
and once both DJs' BPM show, ``q`` is sent; the figures are the time until the terminal left the
app's screen and until the process exited (the shell printed its status).

    .venv/bin/python bench/tui_latency.py                      # 100 presses per row
    .venv/bin/python bench/tui_latency.py --presses 200 --json
    .venv/bin/python bench/tui_latency.py --in-process --terminal 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual._compositor import CompositorUpdate

from djmesh.node.live.sinks import NullSink
from djmesh.node.node import NodeOptions
from djmesh.tui.app import DjmeshApp
from djmesh.tui.backend import Backend
from djmesh.tui.demo_backend import DemoBackend
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.playback import Output
from djmesh.tui.screens.battle import BattleScreen
from tests.helpers.network import make_home

GAP_S = 0.1  # between presses, as a person would type (and so the meters keep running)
REPO = Path(__file__).resolve().parent.parent


class FrameClock:
    """Times frames: wraps the app's display hook, renders each update to terminal bytes (as a real
    terminal would; the headless driver skips that) and notes when a frame first shows ``expected``."""

    def __init__(self, app: DjmeshApp) -> None:
        self.app = app
        self.expected: str | None = None
        self.shown_at: float | None = None
        self.shown = asyncio.Event()
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
                if self.expected is not None and self.shown_at is None and self.expected in audio_text(app):
                    self.shown_at = time.perf_counter()
                    self.shown.set()
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]


def audio_text(app: DjmeshApp) -> str:
    return str(app.screen.query_one("#battle-audio").render())


async def press_and_time(app: DjmeshApp, clock: FrameClock, key: str, char: str) -> float:
    """Key event into the app's queue (as the terminal driver does) to the first frame showing its effect."""
    screen = app.screen
    assert isinstance(screen, BattleScreen)
    volume = app.backend.volume
    level = min(1.0, volume.level + 0.1) if key == "plus" else max(0.0, volume.level - 0.1)
    clock.expected, clock.shown_at = f"vol {round(level * 100)}%", None
    clock.shown.clear()
    driver = app._driver
    assert driver is not None
    start = time.perf_counter()
    event = events.Key(key, char)
    event.set_sender(app)
    driver.send_message(event)
    try:
        await asyncio.wait_for(clock.shown.wait(), 10)
    except TimeoutError:
        raise RuntimeError("no frame showed the change within 10 s") from None
    assert clock.shown_at is not None
    return (clock.shown_at - start) * 1000


async def sample(app: DjmeshApp, presses: int, phases: tuple[str, ...] | None) -> list[float]:
    out: list[float] = []
    backend = app.backend
    backend.volume.level = 0.5
    clock = FrameClock(app)
    for i in range(presses):
        if phases is not None:
            battles = backend.battles()
            if not battles or battles[0].phase not in phases:
                break
        key, char = ("plus", "+") if i % 2 == 0 else ("minus", "-")
        out.append(await press_and_time(app, clock, key, char))
        await asyncio.sleep(GAP_S)
    return out


def figures(name: str, values: list[float], cpu: float | None = None) -> dict[str, Any]:
    if not values:
        return {"row": name, "n": 0}
    ordered = sorted(values)
    return {
        "row": name,
        "n": len(values),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
        "app_cpu_percent": cpu,
    }


async def timed_sample(
    app: DjmeshApp, presses: int, phases: tuple[str, ...] | None
) -> tuple[list[float], float]:
    """The latencies, and the CPU the app's process used meanwhile (% of one core)."""
    cpu, wall = time.process_time(), time.perf_counter()
    values = await sample(app, presses, phases)
    return values, round(100 * (time.process_time() - cpu) / (time.perf_counter() - wall), 1)


def as_if_a_sound_device(backend: Backend) -> None:
    """Heard audio goes to a null sink, but the app handles it as it would for a sound card."""
    backend.output = Output("benchmark null sink")
    backend.open_sink = lambda channels: NullSink()


async def idle_row(root: Path, presses: int) -> dict[str, Any]:
    backend = NodeBackend(make_home(root, "idle"), NodeOptions(listen=["/ip4/127.0.0.1/tcp/0"]))
    as_if_a_sound_device(backend)
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        values, cpu = await timed_sample(app, presses, None)
        await pilot.press("q")
    return figures("idle (no network)", values, cpu)


async def demo_rows(root: Path, presses: int, *, in_process: bool) -> list[dict[str, Any]]:
    backend: Backend
    if in_process:
        backend = NodeBackend(make_home(root, "watcher"), demo_root=root / "demo")
    else:
        backend = DemoBackend(root / "demo")
    as_if_a_sound_device(backend)
    app = DjmeshApp(backend, watch_peers=False)
    where = "in-process" if in_process else "child process"
    rows = []
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 300)

        async def wait_phase(phases: tuple[str, ...], streaming: bool) -> None:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                battles = backend.battles()
                live = battles and battles[0].phase in phases
                if live and (not streaming or all(dj.streaming for dj in battles[0].sides.values())):
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"the demo never reached {phases} (see {root / 'demo'})")

        await wait_phase(("sets",), streaming=True)
        await pilot.press("h")  # hear DJ A: its samples reach the app and are played
        await asyncio.sleep(1)
        print(f"sets: both DJs streaming; hearing {backend.hearing}", file=sys.stderr)
        rows.append(
            figures(f"sets, {where} (meters, hearing DJ A)", *await timed_sample(app, presses, ("sets",)))
        )
        await wait_phase(("commit", "reveal"), streaming=False)
        print("judging: committee judging and committing", file=sys.stderr)
        rows.append(figures(f"judging, {where}", *await timed_sample(app, presses, ("commit", "reveal"))))
        start = time.perf_counter()
        await pilot.press("q")
        while app.is_running:
            await asyncio.sleep(0.001)
        quit_ms = (time.perf_counter() - start) * 1000
    stop_s = time.perf_counter() - start
    if isinstance(backend, DemoBackend) and backend.process is not None:
        await asyncio.to_thread(backend.process.wait, 120)  # the child stops on its own; not timed
    rows.append({"row": f"quit, {where}: q to the screen gone", "n": 1, "quit_ms": round(quit_ms, 1)})
    rows.append({"row": f"quit, {where}: then the app's stop", "n": 1, "stop_s": round(stop_s, 2)})
    return rows


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def wait_exit(pid: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return
        except OSError:
            return
        time.sleep(0.5)


def terminal_quit(root: Path, run: int) -> dict[str, Any]:
    """`djmesh tui --demo` in tmux; once both BPM show, q: time to the screen gone and to the exit."""
    session = f"djmesh-bench-quit-{run}-{root.name}"
    djmesh = Path(sys.executable).parent / "djmesh"
    command = (
        f"cd {REPO} && COLUMNS=130 LINES=45 {djmesh} --home {root / f'quit-{run}'} tui --demo; echo EXIT=$?"
    )
    tmux("new-session", "-d", "-s", session, "-x", "130", "-y", "45", "sh")
    try:
        tmux("resize-window", "-t", session, "-x", "130", "-y", "45")
        tmux("send-keys", "-t", session, command, "Enter")
        deadline = time.monotonic() + 400
        while len(re.findall(r"BPM\s+1[0-9]{2}\.[0-9]", tmux("capture-pane", "-p", "-t", session))) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("the demo never showed both DJs' BPM in the terminal")
            time.sleep(0.5)
        time.sleep(2)
        start = time.perf_counter()
        tmux("send-keys", "-t", session, "q")
        gone = exited = None
        while time.perf_counter() - start < 120 and exited is None:
            if gone is None and tmux("display", "-p", "-t", session, "#{alternate_on}").strip() == "0":
                gone = time.perf_counter() - start
            if "EXIT=" in tmux("capture-pane", "-p", "-t", session):
                exited = time.perf_counter() - start
            time.sleep(0.01)
        found = re.search(r"in the background \(pid (\d+)\)", tmux("capture-pane", "-p", "-t", session))
        if found:  # let the demo network finish stopping before the next run (not timed)
            wait_exit(int(found.group(1)), 120)
        return {"run": run, "screen_gone_s": gone and round(gone, 2), "exited_s": exited and round(exited, 2)}
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


async def main_async(args: argparse.Namespace, root: Path) -> list[dict[str, Any]]:
    rows = [await idle_row(root, args.presses)]
    rows += await demo_rows(root, args.presses, in_process=False)
    if args.in_process:
        rows += await demo_rows(root / "in-process", args.presses, in_process=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--in-process", action="store_true", help="also the demo in the app's own process")
    parser.add_argument("--terminal", type=int, default=0, metavar="N", help="time q in tmux N times")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("libp2p").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = asyncio.run(main_async(args, root))
        print(json.dumps({"rows": rows}), file=sys.stderr, flush=True)  # kept if what follows fails
        quits = []
        if args.terminal and shutil.which("tmux") is None:
            print("--terminal: tmux is not installed", file=sys.stderr)
        elif args.terminal:
            for run in range(args.terminal):
                quits.append(terminal_quit(root, run))
                print(json.dumps(quits[-1]), file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps({"rows": rows, "terminal_quit": quits}, indent=2))
        return
    print(f"{'row':<48} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'app CPU':>8}")
    for row in rows:
        if "quit_ms" in row:
            print(f"{row['row']:<48} {row['n']:>4} {row['quit_ms']:>8} ms")
        elif "stop_s" in row:
            print(f"{row['row']:<48} {row['n']:>4} {row['stop_s']:>8} s")
        elif row["n"]:
            cpu = row.get("app_cpu_percent")
            print(
                f"{row['row']:<48} {row['n']:>4} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}"
                f" {'-' if cpu is None else cpu:>7}%"
            )
        else:
            print(f"{row['row']:<48}    0 (phase ended before a sample)")
    for found in quits:
        print(
            f"terminal quit, run {found['run']}: screen gone {found['screen_gone_s']} s, "
            f"process exited {found['exited_s']} s"
        )


if __name__ == "__main__":
    main()
