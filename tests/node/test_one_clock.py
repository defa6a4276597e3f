"""One clock in node/: service code reads and sleeps through node/clock.py, never the machine's clocks.

A service that calls ``time.monotonic()`` or ``time.time()`` reads the real clock even on a
``VirtualTimeLoop`` (and ignores a node's skewed clock), so a simulated run stops repeating and a
deadline measured that way is wrong by however long the simulation jumped. ``asyncio.sleep`` and
``loop.time()`` follow the loop but not a node's own clock (``set_node_clock``), and an inline
``asyncio.wait_for(event.wait(), …)`` is ``clock.wait_set`` written again. This test reads every
module of node/ and fails on any such call outside the places listed below with the reason they
stay on real time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import djmesh.node

NODE_DIR = Path(djmesh.node.__path__[0])

# Whole modules that are not services: the clock itself, the simulator that drives it, and commands
# that run once in the foreground (a person waits on them in real time).
NOT_SERVICES = {
    "clock.py": "the clock itself",
    "sim": "the simulator: it drives virtual time (it runs only on a VirtualTimeLoop)",
    "cli.py": "command line, one shot",
    "live/cli.py": "command line, one shot",
    "midi/cli.py": "command line, one shot",
    "ledger_cli.py": "command line, one shot",
    "judge_cli.py": "command line, one shot",
    "demo.py": "`djmesh demo`: a one-shot command on real sockets and real time",
    "progress_line.py": "a terminal progress line for commands",
    "live/stdin_pipe.py": "a reader thread on a real pipe (off the loop)",
    "live/capture.py": "the audio capture thread: real time is what the sound card runs on",
}

# (module, function) -> why it stays on the machine's clock.
ALLOWED = {
    ("node.py", "_sync_from"): "CPU time spent hogging the loop (perf_counter), not a time of day",
    ("live/webrtc.py", "connect"): "a real aiortc connection over real sockets; its timeout raises",
    ("p2p/host.py", "_probe_latency"): "round trip of a real libp2p ping over real sockets (perf_counter)",
    ("midi/monitor.py", "beat_wall_us"): "a real MIDI device's beat, placed on the machine's wall clock",
    ("midi/ports.py", "open_virtual_input"): "a real MIDI message's arrival, on the clock RtMidi stamps with",
}

REAL_TIME = {"time", "monotonic", "time_ns", "monotonic_ns", "perf_counter", "perf_counter_ns", "sleep"}


def _excluded(relative: str) -> bool:
    return any(relative == key or relative.startswith(key + "/") for key in NOT_SERVICES)


def _offence(call: ast.Call) -> str | None:
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    if isinstance(owner, ast.Name) and owner.id == "time" and func.attr in REAL_TIME:
        return f"time.{func.attr}()"
    if isinstance(owner, ast.Name) and owner.id == "asyncio" and func.attr == "sleep":
        zero = call.args and isinstance(call.args[0], ast.Constant) and call.args[0].value == 0
        return None if zero else "asyncio.sleep() (use clock.sleep: a node's own clock too)"
    if func.attr == "time" and not call.args:
        if isinstance(owner, ast.Name) and owner.id == "loop":
            return "loop.time() (use clock.monotonic)"
        if (
            isinstance(owner, ast.Call)
            and isinstance(owner.func, ast.Attribute)
            and owner.func.attr in ("get_running_loop", "get_event_loop")
        ):
            return "get_running_loop().time() (use clock.monotonic)"
    if isinstance(owner, ast.Name) and owner.id == "asyncio" and func.attr == "wait_for" and call.args:
        awaited = call.args[0]
        if (
            isinstance(awaited, ast.Call)
            and isinstance(awaited.func, ast.Attribute)
            and awaited.func.attr == "wait"
            and not awaited.args
        ):
            return "asyncio.wait_for(event.wait(), …) (use clock.wait_set)"
    return None


def _offences(path: Path, relative: str) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[str] = []

    def visit(node: ast.AST, function: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = function
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = child.name
            if isinstance(child, ast.ImportFrom) and child.module == "time":
                found.append(f"{relative}:{child.lineno}: from time import … (read it through node/clock.py)")
            if isinstance(child, ast.Call):
                what = _offence(child)
                allowed = (relative, name) in ALLOWED
                if what is not None and not allowed:
                    found.append(f"{relative}:{child.lineno} in {name}(): {what}")
            visit(child, name)

    visit(tree, "<module>")
    return found


def test_service_code_reads_time_and_sleeps_only_through_node_clock() -> None:
    found: list[str] = []
    for path in sorted(NODE_DIR.rglob("*.py")):
        relative = path.relative_to(NODE_DIR).as_posix()
        if not _excluded(relative):
            found.extend(_offences(path, relative))
    assert not found, "service code on the machine's clock:\n" + "\n".join(found)


def test_the_check_sees_each_way_of_reading_the_machines_clock() -> None:
    """The check itself: each pattern it must catch is caught, and the clock's own helpers are not."""
    source = """
import asyncio, time
from djmesh.node import clock
async def f(loop, event):
    time.monotonic()
    time.time()
    await asyncio.sleep(1.0)
    loop.time()
    asyncio.get_running_loop().time()
    await asyncio.wait_for(event.wait(), 1.0)
    await asyncio.sleep(0)
    clock.monotonic()
    await clock.sleep(1.0)
    await clock.wait_set(event, 1.0)
"""
    caught = {
        what.split(" ")[0]
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and (what := _offence(node)) is not None
    }
    assert caught == {
        "time.monotonic()",
        "time.time()",
        "asyncio.sleep()",
        "loop.time()",
        "get_running_loop().time()",
        "asyncio.wait_for(event.wait(),",
    }
