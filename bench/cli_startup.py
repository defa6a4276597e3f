"""Start-up time of the `djmesh` command, next to the floor a user cannot go below (`python -c pass`).

Each row starts a fresh process N times and reports the median and the fastest wall time, and the
median CPU time (user + system; steadier than wall time on a busy machine). The commands run
against a throw-away home with an identity; the control-client commands (`feed --json`, `status`)
run against a real node started for the purpose, so they include the round trip to it. The last row is
`djmesh node` itself (no chain configured): from the start to its control API being up, and the CPU the
process used by then (every test and every user start pays it).

    .venv/bin/python bench/cli_startup.py             # 15 runs per row
    .venv/bin/python bench/cli_startup.py --runs 30 --json

Bytecode caching is on for the children (as for any user; PYTHONDONTWRITEBYTECODE is dropped) and
one warm-up run per row is not counted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

GOAL_S = 0.3


def _djmesh() -> list[str]:
    found = shutil.which("djmesh", path=str(Path(sys.executable).parent))
    return [found] if found else [sys.executable, "-m", "djmesh.node.cli"]


def _time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def measure(name: str, argv: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    _, _, code = _time_once(argv, env)  # warm-up: bytecode caches, page cache
    if code != 0:
        raise SystemExit(f"{name}: `{' '.join(argv)}` exited {code}")
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, _ = _time_once(argv, env)
        walls.append(wall)
        cpus.append(cpu)
    return {
        "row": name,
        "runs": runs,
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "cpu_median_s": round(statistics.median(cpus), 4),
    }


def _wait_for_control(home: Path, node: subprocess.Popen[bytes], deadline_s: float = 120.0) -> None:
    deadline = time.monotonic() + deadline_s
    while not (home / "control.json").exists():
        if node.poll() is not None:
            raise SystemExit(f"the node exited {node.returncode} before its control API was up")
        if time.monotonic() > deadline:
            raise SystemExit("the node's control API did not come up")
        time.sleep(0.1)


def _start_node(djmesh: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*djmesh, "node", "--listen", "/ip4/127.0.0.1/tcp/0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure_node_start(djmesh: list[str], env: dict[str, str], home: Path, runs: int) -> dict[str, Any]:
    """`djmesh node` from its start to the control API up: wall time, and the node's CPU by then."""
    ticks = os.sysconf("SC_CLK_TCK")
    walls, cpus = [], []
    for i in range(runs + 1):  # the first is a warm-up
        (home / "control.json").unlink(missing_ok=True)
        start = time.perf_counter()
        node = _start_node(djmesh, env)
        try:
            _wait_for_control(home, node)
            wall = time.perf_counter() - start
            fields = Path(f"/proc/{node.pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        finally:
            node.terminate()
            node.wait(timeout=60)
        if i:
            walls.append(wall)
            cpus.append(cpu)
    return {
        "row": "djmesh node (start to control API up, no chain)",
        "runs": runs,
        "median_s": round(statistics.median(walls), 4),
        "min_s": round(min(walls), 4),
        "cpu_median_s": round(statistics.median(cpus), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()

    djmesh = _djmesh()
    rows = []
    with tempfile.TemporaryDirectory(prefix="djmesh-bench-cli-") as tmp:
        home = Path(tmp) / "home"
        env = {
            k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "DJMESH_PASSPHRASE")
        }
        env["DJMESH_HOME"] = str(home)
        subprocess.run([*djmesh, "init", "--name", "bench"], env=env, check=True, capture_output=True)

        rows.append(measure("python -c pass (floor)", [sys.executable, "-c", "pass"], env, options.runs))
        rows.append(measure("djmesh --help", [*djmesh, "--help"], env, options.runs))
        rows.append(measure("djmesh id", [*djmesh, "id"], env, options.runs))
        rows.append(measure("djmesh version", [*djmesh, "version"], env, options.runs))

        node = _start_node(djmesh, env)
        try:
            _wait_for_control(home, node)
            rows.append(
                measure("djmesh feed --json (node running)", [*djmesh, "feed", "--json"], env, options.runs)
            )
            rows.append(measure("djmesh status (node running)", [*djmesh, "status"], env, options.runs))
        finally:
            node.terminate()
            node.wait(timeout=60)
        rows.append(measure_node_start(djmesh, env, home, max(3, options.runs // 3)))

    if options.json:
        print(json.dumps({"goal_s": GOAL_S, "load": os.getloadavg()[0], "rows": rows}, indent=2))
        return
    floor = rows[0]["median_s"]
    print(f"load average {os.getloadavg()[0]:.2f}; goal: under {GOAL_S} s\n")
    print("| command | runs | median s | fastest s | CPU s (median) | over the floor s |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        over = row["median_s"] - floor
        print(
            f"| {row['row']} | {row['runs']} | {row['median_s']:.3f} | {row['min_s']:.3f} "
            f"| {row['cpu_median_s']:.3f} | {over:+.3f} |"
        )


if __name__ == "__main__":
    main()
