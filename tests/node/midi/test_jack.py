"""Real MIDI clock through JACK (dummy driver): the `djmesh` ports, the CLI, the clock sender."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import mido
import pytest

from djmesh.node.midi.clock import CLOCK, CONTINUE, ClockTracker
from djmesh.node.midi.monitor import MidiMonitor
from djmesh.node.midi.ports import list_ports, open_output, open_virtual_input
from djmesh.node.midi.sender import ClockSender
from tests.helpers.cli import CliRunner
from tests.helpers.network import PATIENCE

pytestmark = pytest.mark.timeout(120)
IN_PORT = "djmesh:djmesh"  # the virtual input, as other JACK clients see it
OUT_PORT = "djmesh-out:djmesh"


def wait_for_port(name: str, kind: str = "outputs", timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while name not in list_ports()[kind]:
        if time.monotonic() > deadline:
            raise AssertionError(f"MIDI port {name!r} did not appear: {list_ports()}")
        time.sleep(0.1)


def sender_to(port: mido.ports.BaseOutput, bpm: float) -> ClockSender:
    return ClockSender(lambda status: port.send(mido.Message.from_bytes([status])), bpm)


def test_clock_into_the_djmesh_port_gives_tempo_and_transport(jack: dict[str, str]) -> None:
    monitor = MidiMonitor()
    port = open_virtual_input(monitor.on_message)
    out = open_output(IN_PORT)
    sender = sender_to(out, 125.0)
    try:
        sender.start()
        # A loaded machine delivers clocks late and in bursts: wait for the reading, do not guess when it is there.
        deadline = time.monotonic() + 10 * PATIENCE
        state = monitor.state()
        while not (
            state.running
            and state.alive
            and state.beat is not None
            and state.beat >= 4.0
            and state.bpm is not None
            and abs(state.bpm - 125.0) <= 1.0  # a least-squares fit over late, bursty arrivals settles
        ):
            assert time.monotonic() < deadline, f"no steady 125 bpm clock on the port: {state}"
            time.sleep(0.05)
            state = monitor.state()
        stats = sender.stop()  # ends with Stop
        assert stats.ticks >= 96
        stopped = monitor.state()
        while stopped.running:  # the Stop after the last clock
            assert time.monotonic() < deadline + 5 * PATIENCE, f"no Stop on the port: {stopped}"
            time.sleep(0.05)
            stopped = monitor.state()
        beat_at_stop = stopped.beat
        assert beat_at_stop is not None
        assert beat_at_stop == pytest.approx(stats.ticks / 24, abs=2 / 24)  # every clock sent is counted
        out.send(mido.Message.from_bytes([CONTINUE]))
        for _ in range(24):
            out.send(mido.Message.from_bytes([CLOCK]))
            time.sleep(60 / (125 * 24))
        # 24 clocks are one beat: wait until they are counted (a loaded machine delivers them late), then
        # check that no more were
        deadline = time.monotonic() + 5 * PATIENCE
        resumed = monitor.state()
        while resumed.beat is None or resumed.beat < beat_at_stop + 1.0 - 1 / 48:
            assert time.monotonic() < deadline, f"the 24 clocks after Continue not counted: {resumed}"
            time.sleep(0.05)
            resumed = monitor.state()
        assert resumed.running
        assert resumed.beat == pytest.approx(beat_at_stop + 1.0, abs=3 / 24)
        assert monitor.summary()["transport"] == {"start": 1, "stop": 1, "continue": 1}
    finally:
        sender.stop()  # before the port closes: sending on a closed JACK port crashes the process
        out.close()
        port.close()


def _run_cli_while(
    djmesh_midi: CliRunner, args: list[str], wait_port: tuple[str, str], during: Callable[[], None]
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [*djmesh_midi.executable(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**djmesh_midi.env, **{k: os.environ[k] for k in ("JACK_DEFAULT_SERVER", "MIDO_BACKEND")}},
        cwd=djmesh_midi.cwd,
    )
    try:
        wait_for_port(*wait_port)
        during()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_cli_monitor_json_reports_the_clock(
    jack: dict[str, str], djmesh_midi: CliRunner, tmp_path: Path
) -> None:
    senders: list[tuple[ClockSender, mido.ports.BaseOutput]] = []

    def send_clock() -> None:
        out = open_output(IN_PORT)
        senders.append((sender_to(out, 125.0), out))
        senders[0][0].start()

    done = _run_cli_while(
        djmesh_midi,
        # the sender starts only once the test sees the port: on a busy machine that is a second or two
        ["--home", str(tmp_path / "h"), "midi", "monitor", "--seconds", str(2 * PATIENCE), "--json"],
        (IN_PORT, "outputs"),
        send_clock,
    )
    for sender, out in senders:
        sender.stop()
        out.close()
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(report["bpm"], float) and report["bpm"] == pytest.approx(125.0, abs=0.5)
    # 2 s at 125 bpm is 100 clocks (the monitor listens 2 s times the test patience)
    assert report["running"] is True and report["ticks"] >= 48


def test_cli_clock_sends_a_steady_tempo(jack: dict[str, str], djmesh_midi: CliRunner, tmp_path: Path) -> None:
    tracker = ClockTracker()
    lock = threading.Lock()

    def on_message(message: mido.Message) -> None:
        with lock:
            tracker.feed(message.bytes()[0], time.perf_counter())

    ports: list[object] = []

    def listen() -> None:
        backend = mido.Backend(os.environ["MIDO_BACKEND"], load=True)
        ports.append(backend.open_input(OUT_PORT, callback=on_message))

    done = _run_cli_while(
        djmesh_midi,
        ["--home", str(tmp_path / "h"), "midi", "clock", "--bpm", "132.5", "--seconds", "2.5", "--json"],
        (OUT_PORT, "inputs"),
        listen,
    )
    for port in ports:
        port.close()  # type: ignore[attr-defined]
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    assert figures["bpm"] == 132.5 and figures["ticks"] > 100
    assert figures["drift_ms"] < 20  # the absolute schedule does not accumulate lateness
    with lock:
        assert tracker.last_bpm == pytest.approx(132.5, abs=0.5)
        assert not tracker.state().running  # the sender ended with Stop


def test_without_a_jack_server_the_error_is_one_line(djmesh_midi: CliRunner, tmp_path: Path) -> None:
    env = {**djmesh_midi.env, "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}
    env["JACK_DEFAULT_SERVER"] = "djmesh-nobody-home"
    runner = CliRunner(env=env, cwd=djmesh_midi.cwd)
    done = runner("--home", str(tmp_path / "h"), "midi", "monitor", "--seconds", "1")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "no JACK server is running" in done.stderr and "jackd" in done.stderr


@pytest.mark.skipif(os.path.exists("/dev/snd/seq"), reason="this machine has an ALSA sequencer")
def test_without_alsa_the_error_names_the_jack_fix(djmesh_midi: CliRunner, tmp_path: Path) -> None:
    env = {k: v for k, v in djmesh_midi.env.items() if k != "MIDO_BACKEND"}
    done = CliRunner(env=env, cwd=djmesh_midi.cwd)("--home", str(tmp_path / "h"), "midi", "list")
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "ALSA" in done.stderr and "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK" in done.stderr
