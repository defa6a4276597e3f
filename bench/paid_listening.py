"""Paid listening on a loaded machine: the TUI demo's network (8 nodes and an EVM in one process) with busy cores.

Starts ``python -m djmesh.tui.demo_host ROOT`` (what ``djmesh tui --demo`` runs: two DJs selling their streams,
four viewers, a watching node), keeps ``--busy`` processes spinning on the other cores meanwhile, stops the host
after ``--seconds``, and reads its log. ``--reference PYTHON``: the same runs, taking turns, with another checkout's
interpreter (its venv with an editable install of it), e.g. the code before a change; each line says which.

- cut_offs: paying listeners the DJs' paywalls cut off ("cutting off ... served X s, paid Y s")
- reparents: a listener's link to its DJ lost or closed, and the listener looking for a parent again
- keepalive_closes: links a hub dropped for missed pings
- refused_joins, and why: "payment first" is a joiner's first try, before its voucher is checked
- heard_s: per listener and stream, the seconds of audio it paid for when it stopped (min and median)
- rcvbuf_errors: UDP datagrams the kernel dropped for a full receive buffer during the run (/proc/net/snmp),
  machine-wide
- udp_queue_kb: the most bytes waiting unread in any one UDP socket's receive queue (/proc/net/udp, sampled
  every 0.25 s, machine-wide; the kernel counts about 1 KB per small packet): packets the nodes' loops had not
  read yet, which QUIC counts as round-trip time

    .venv/bin/python bench/paid_listening.py --busy 2 --runs 2
    .venv/bin/python bench/paid_listening.py --busy 2 --runs 2 --reference ../before/.venv/bin/python
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CUT = re.compile(r"cutting off \S+ on \w+: served ([\d.]+) s, paid ([\d.]+) s")
HEARD = re.compile(r"stopped paying for \w+ after ([\d.]+) s heard")
REFUSED = re.compile(r"join refused: ([^:\n]+)")


def rcvbuf_errors() -> int | None:
    """The kernel's count of UDP datagrams dropped for a full receive buffer (Linux), or None."""
    try:
        lines = [
            line.split()
            for line in Path("/proc/net/snmp").read_text().splitlines()
            if line.startswith("Udp:")
        ]
    except OSError:
        return None
    header, values = lines[0], lines[1]
    return int(values[header.index("RcvbufErrors")]) if "RcvbufErrors" in header else None


def udp_queue_bytes() -> int:
    """The longest receive queue (bytes) over this machine's UDP sockets now (Linux), 0 if unknown."""
    longest = 0
    with contextlib.suppress(OSError):
        for path in ("/proc/net/udp", "/proc/net/udp6"):
            for line in Path(path).read_text().splitlines()[1:]:
                fields = line.split()
                longest = max(longest, int(fields[4].split(":")[1], 16))
    return longest


class QueueWatch(threading.Thread):
    """Samples ``udp_queue_bytes`` every 0.25 s until stopped."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.longest = 0
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(0.25):
            self.longest = max(self.longest, udp_queue_bytes())

    def stop(self) -> int:
        self._halt.set()
        self.join()
        return self.longest


def one_run(python: str, seconds: float, busy: int, keep: Path | None = None) -> dict[str, Any]:
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    before = rcvbuf_errors()
    watch = QueueWatch()
    watch.start()
    try:
        with tempfile.TemporaryDirectory(prefix="djmesh-paid-") as tmp:
            root = Path(tmp) / "demo"
            host = subprocess.Popen(
                [python, "-m", "djmesh.tui.demo_host", str(root)],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
            )
            time.sleep(seconds)
            assert host.stdin is not None
            host.stdin.close()  # how the app says it quit: the host stops gracefully
            host.wait(timeout=120)
            log = (root / "host.log").read_text(errors="replace")
            if keep is not None:
                keep.mkdir(parents=True, exist_ok=True)
                (keep / f"host-{int(time.time())}.log").write_text(log)
    finally:
        for spinner in spinners:
            spinner.kill()
        longest_queue = watch.stop()
    after = rcvbuf_errors()
    heard = sorted(float(x) for x in HEARD.findall(log))
    refused: dict[str, int] = {}
    for reason in REFUSED.findall(log):
        refused[reason] = refused.get(reason, 0) + 1
    return {
        "cut_offs": len(CUT.findall(log)),
        "reparents": log.count("re-parenting"),
        "keepalive_closes": len(
            re.findall(r"Connection close sent \(code 0x0, reason keepalive timeout\)", log)
        ),
        "refused_joins": refused,
        "heard_s": {"n": len(heard), "min": heard[0], "median": statistics.median(heard)} if heard else None,
        "rcvbuf_errors": after - before if after is not None and before is not None else None,
        "udp_queue_kb": round(longest_queue / 1024),
        "result_agreed": "result agreed" in log or "viewers vote anonymously" in log,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--seconds", type=float, default=130.0, help="how long the demo network runs (default 130)"
    )
    parser.add_argument(
        "--busy", type=int, default=2, help="processes spinning meanwhile (default 2: both cores)"
    )
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--reference", metavar="PYTHON", help="another checkout's interpreter, run in turns with ours"
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="keep each run's host.log in DIR")
    args = parser.parse_args()
    pythons = {"this": sys.executable, **({"reference": args.reference} if args.reference else {})}
    for run in range(args.runs):
        for name, python in pythons.items():
            row = one_run(python, args.seconds, args.busy, args.keep)
            print(json.dumps({"code": name, "run": run + 1, "busy": args.busy, **row}), flush=True)


if __name__ == "__main__":
    main()
