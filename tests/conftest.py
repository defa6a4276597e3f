"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import settings

from tests.helpers.cli import CliRunner
from tests.helpers.network import PATIENCE

# Shared CI machines have noisy timings: judge properties by their outcome, not their speed.
settings.register_profile("djmesh", deadline=None, print_blob=True)
settings.load_profile("djmesh")


@pytest.fixture
def signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes(range(32)))


@pytest.fixture
def other_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes(range(1, 33)))


@pytest.fixture
def djmesh(tmp_path: Path) -> CliRunner:
    """Runs the installed `djmesh` command in a subprocess, as a user would."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJMESH_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return CliRunner(env=env, cwd=tmp_path)


# Tests that take tens of seconds (mostly waiting on battle windows), with their seconds in a full run.
# They start first, so the two xdist workers share them instead of one ending the run alone on a late one; the
# order changes the wall time only (every test is independent). Update from the `--durations` table (these:
# 2026-12-05, load ~5 on 2 cores).
LONG_TESTS: dict[str, int] = {
    "tests/node/test_user_battle.py::": 160,
    "tests/node/test_demo.py::test_demo_battle_with_a_liar": 91,
    "tests/node/battle/test_live_stdin.py::": 75,
    "tests/tui/test_terminal.py::test_demo_battle_shows_live_in_a_real_terminal": 63,
    "tests/node/battle/test_escrow.py::": 50,
    "tests/node/live/test_cli.py::": 49,
    "tests/tui/test_attached_live.py::": 41,
    "tests/dsp/test_determinism.py::": 31,
    "tests/node/http/test_overlay.py::": 23,
    "tests/node/sim/test_battles.py::test_viewers_keep_joining": 22,
    "tests/node/live/test_stdin.py::": 21,
    "tests/node/sim/test_ledger.py::": 20,
    "tests/ledger/zk/test_listen_gate.py::": 20,
    "tests/judge/test_judge.py::test_bit_identical_across_processes_and_thread_counts": 19,
    "tests/node/http/test_guard.py::": 17,
    "tests/node/battle/test_anonymous_votes.py::": 17,
    "tests/judge/test_findings.py::test_cli_scores_one_set_alone": 17,
    "tests/tui/test_commands_live.py::": 14,
    "tests/node/live/test_mesh.py::": 14,
    "tests/bootstrap/test_cli.py::": 14,
}


# Tests that stream a whole battle in real time between many nodes (DJs encoding, listeners paying per second,
# judges analysing as the audio comes). They share one xdist worker, one after another: run side by side on a
# 2-core machine, four of them starve each other's event loops until DJs cut off listeners whose vouchers they
# could not check in time, and a test of live figures sees none (CI, 2026-12-06). Every other test runs beside them.
REAL_TIME_BATTLES = (
    "tests/node/test_user_battle.py::",
    "tests/node/test_demo.py::test_demo_battle_with_a_liar",
    "tests/node/battle/test_live_stdin.py::",
    "tests/tui/test_terminal.py::",
    "tests/node/battle/test_escrow.py::test_bonded_members",
    "tests/tui/test_attached_live.py::",
    "tests/node/http/test_overlay.py::test_overlay_shows_both_djs_live",
)


def expected_seconds(nodeid: str) -> int:
    return max((seconds for prefix, seconds in LONG_TESTS.items() if nodeid.startswith(prefix)), default=0)


def scale_timeout(item: pytest.Item) -> None:
    """A ``timeout`` marker gives seconds on a quiet machine, like `wait_until`: it ends a stuck test, so it
    scales with PATIENCE, and a test that is merely slow on a loaded machine is not killed halfway.

    Unmarked tests keep the ini file's ``timeout`` (each takes seconds; it only ends a hang).
    """
    marker = item.get_closest_marker("timeout")
    if marker is None:
        return
    kwargs = dict(marker.kwargs)
    args = list(marker.args)
    if "timeout" in kwargs:
        kwargs["timeout"] = kwargs["timeout"] * PATIENCE
    elif args:
        args[0] = args[0] * PATIENCE
    item.add_marker(pytest.mark.timeout(*args, **kwargs), append=False)  # the closest marker from now on


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the ``xdist_group`` markers
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        scale_timeout(item)
        if item.nodeid.startswith(REAL_TIME_BATTLES):
            item.add_marker(pytest.mark.xdist_group("real-time-battles"))  # one lane (``--dist loadgroup``)
    items.sort(key=lambda item: -expected_seconds(item.nodeid))  # stable: the rest keep their order


WORKERS_PER_CORE = 2
MAX_WORKERS = 16  # beyond, the suite's longest tests decide the time, not the workers


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """``-n auto``: two workers per core. Most of a test's time is waiting (battle windows, node processes
    starting, chains, real time audio): 831 s of CPU in 2,188 s of test time in one run, so a second worker per
    core fills the waits (three were no faster) (BENCHMARKS.md, "Test suite time"). PYTEST_XDIST_AUTO_NUM_WORKERS still decides."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return min(MAX_WORKERS, WORKERS_PER_CORE * cores)
