"""MIDI clock sender timing: djmesh's absolute schedule beside the loop a user would write first.

Rows (same tempo, same duration, one after the other on this machine):
  naive-sleep   ``while True: send(); time.sleep(period)``: every wake-up delay and the send time add up.
  djmesh        ``ClockSender``: tick k is due at start + k * period; a late wake-up delays one tick only.

For each: ticks sent, lateness of the ticks against the ideal grid (mean, p99, max), drift (lateness of
the last tick) and the tempo a receiver measures from the send times (``ClockTracker``'s regression
over the last 4 beats), plus the 1-minute load average (other work shows up as lateness).

    python bench/midi_clock.py                  # 125 bpm, 10 s per row
    python bench/midi_clock.py --bpm 174 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from djmesh.node.midi.clock import CLOCK, TICKS_PER_BEAT, ClockTracker
from djmesh.node.midi.sender import ClockSender


def naive(bpm: float, seconds: float) -> list[float]:
    period = 60.0 / (bpm * TICKS_PER_BEAT)
    sent: list[float] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sent.append(time.perf_counter())
        time.sleep(period)
    return sent


def djmesh(bpm: float, seconds: float) -> list[float]:
    sent: list[float] = []

    def send(status: int) -> None:
        if status == CLOCK:
            sent.append(time.perf_counter())

    sender = ClockSender(send, bpm)
    sender.start()
    threading.Event().wait(seconds)
    sender.stop()
    return sent


def report(name: str, sent: list[float], bpm: float) -> None:
    period = 60.0 / (bpm * TICKS_PER_BEAT)
    late = sorted((t - (sent[0] + k * period)) * 1000 for k, t in enumerate(sent))
    tracker = ClockTracker()
    for t in sent:
        tracker.clock(t)
    measured = tracker.bpm or 0.0
    drift = (sent[-1] - (sent[0] + (len(sent) - 1) * period)) * 1000
    p99 = late[min(len(late) - 1, len(late) * 99 // 100)]
    print(
        f"{name:<12} {len(sent):>6} {sum(late) / len(late):>9.3f} {p99:>9.3f} {late[-1]:>9.3f} "
        f"{drift:>9.2f} {measured:>10.3f} {os.getloadavg()[0]:>6.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bpm", type=float, default=125.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    print(f"{args.bpm:g} bpm, {args.seconds:g} s per row; lateness against the ideal grid in ms")
    print(
        f"{'sender':<12} {'ticks':>6} {'mean':>9} {'p99':>9} {'max':>9} {'drift':>9} {'rx bpm':>10} {'load':>6}"
    )
    report("naive-sleep", naive(args.bpm, args.seconds), args.bpm)
    report("djmesh", djmesh(args.bpm, args.seconds), args.bpm)


if __name__ == "__main__":
    main()
