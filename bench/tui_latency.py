"""TUI input latency: key press to screen update, with the app idle and with a battle streaming and judging.

The app runs headless (Textual's ``run_test``) with the node in-process. Each sample presses ``+`` or
``-`` on the Battle screen: the key event goes into the app's queue as the terminal driver would
put it there, and the time runs until the first frame that shows the new volume in the battle's
title line has been rendered to terminal bytes (the headless driver skips writing them; this
benchmark renders each frame so that cost counts). Polled every 0.5 ms. Rows, side by side:

  idle       the same app, its node alone on loopback (no peers, no streams): the reference
  sets       ``--demo``: the whole demo network in this process (bootstrap, 2 DJs, 4 viewers), both
             DJs streaming, the app analysing both streams for its meters and playing DJ A (null sink)
  judging    the same, after the sets: the committee judges the signed sets, commits and reveals

    /work/venv/bin/python bench/tui_latency.py               # 100 presses per row
    /work/venv/bin/python bench/tui_latency.py --presses 200 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from textual import events
from textual._compositor import CompositorUpdate

from djmesh.node.node import NodeOptions
from djmesh.tui.app import DjmeshApp
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.screens.battle import BattleScreen
from tests.helpers.network import make_home

POLL_S = 0.0005
GAP_S = 0.1  # between presses, as a person would type (and so the meters keep running)


class FrameClock:
    """Times frames: wraps the app's display hook, renders each update to terminal bytes (as a real
    terminal would; the headless driver skips that) and notes when a frame first shows ``expected``."""

    def __init__(self, app: DjmeshApp) -> None:
        self.app = app
        self.expected: str | None = None
        self.shown_at: float | None = None
        original = app._display

        def display(screen: Any, renderable: Any) -> None:
            if isinstance(renderable, CompositorUpdate):
                renderable.render_segments(app.console)
                if self.expected is not None and self.shown_at is None and self.expected in title_text(app):
                    self.shown_at = time.perf_counter()
            original(screen, renderable)

        app._display = display  # type: ignore[method-assign]


def title_text(app: DjmeshApp) -> str:
    return str(app.screen.query_one("#battle-title").render())


async def press_and_time(app: DjmeshApp, clock: FrameClock, key: str, char: str) -> float:
    """Key event into the app's queue (as the terminal driver does) to the first frame showing its effect."""
    screen = app.screen
    assert isinstance(screen, BattleScreen)
    volume = app.backend.volume
    level = min(1.0, volume.level + 0.1) if key == "plus" else max(0.0, volume.level - 0.1)
    clock.expected, clock.shown_at = f"vol {round(level * 100)}%", None
    driver = app._driver
    assert driver is not None
    start = time.perf_counter()
    event = events.Key(key, char)
    event.set_sender(app)
    driver.send_message(event)
    while clock.shown_at is None:
        if time.perf_counter() - start > 10:
            raise RuntimeError("no frame showed the change within 10 s")
        await asyncio.sleep(POLL_S)
    return (clock.shown_at - start) * 1000


async def sample(app: DjmeshApp, pilot: Any, presses: int, phases: tuple[str, ...] | None) -> list[float]:
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


def figures(name: str, values: list[float]) -> dict[str, Any]:
    if not values:
        return {"row": name, "n": 0}
    ordered = sorted(values)
    return {
        "row": name,
        "n": len(values),
        "p50_ms": round(statistics.median(ordered), 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        "max_ms": round(ordered[-1], 2),
    }


async def idle_row(root: Path, presses: int) -> dict[str, Any]:
    backend = NodeBackend(make_home(root, "idle"), NodeOptions(listen=["/ip4/127.0.0.1/tcp/0"]))
    app = DjmeshApp(backend, watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 60)
        values = await sample(app, pilot, presses, None)
        await pilot.press("q")
    return figures("idle (no network)", values)


async def demo_rows(root: Path, presses: int) -> list[dict[str, Any]]:
    backend = NodeBackend(make_home(root, "watcher"), demo_root=root / "demo")
    app = DjmeshApp(backend, watch_peers=False)
    rows = []
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.ready.wait(), 180)

        async def wait_phase(phases: tuple[str, ...], streaming: bool) -> None:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:
                battles = backend.battles()
                live = battles and battles[0].phase in phases
                if live and (not streaming or all(dj.streaming for dj in battles[0].sides.values())):
                    return
                await asyncio.sleep(0.2)
            raise RuntimeError(f"the demo never reached {phases}")

        await wait_phase(("sets",), streaming=True)
        await pilot.press("h")  # hear DJ A: decoding and playout on top of the meters
        await asyncio.sleep(1)
        print(f"sets: both DJs streaming; hearing {backend.hearing}", file=sys.stderr)
        rows.append(
            figures("sets (2 streams, meters, playback)", await sample(app, pilot, presses, ("sets",)))
        )
        await wait_phase(("commit", "reveal"), streaming=False)
        print("judging: committee judging and committing", file=sys.stderr)
        rows.append(
            figures("judging (commit, reveal)", await sample(app, pilot, presses, ("commit", "reveal")))
        )
        await pilot.press("q")
    return rows


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rows = [await idle_row(root, args.presses)]
        rows += await demo_rows(root, args.presses)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--presses", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("libp2p").setLevel(logging.ERROR)
    rows = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    print(f"{'row':<38} {'n':>4} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for row in rows:
        if row["n"]:
            print(f"{row['row']:<38} {row['n']:>4} {row['p50_ms']:>8} {row['p95_ms']:>8} {row['max_ms']:>8}")
        else:
            print(f"{row['row']:<38}    0 (phase ended before a sample)")


if __name__ == "__main__":
    main()
