"""`djmesh midi list|monitor|map|clock`: MIDI ports, clock in and out, controller mappings."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from djmesh.node.home import NodeHome


def register(commands: Any) -> None:
    midi = commands.add_parser(
        "midi",
        help="MIDI: list ports, monitor clock, map a controller, send clock",
        description="MIDI through the virtual `djmesh` ports (ALSA; JACK with "
        "MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK).",
    )
    actions = midi.add_subparsers(dest="midi_action", metavar="ACTION", required=True)

    sub = actions.add_parser("list", help="MIDI ports the backend sees")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_list)

    sub = actions.add_parser(
        "monitor", help="open the `djmesh` input; report clock tempo, transport, notes, CCs"
    )
    sub.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    sub.add_argument("--json", action="store_true", help="print {bpm, running, ...} at the end")
    sub.set_defaults(handler=_monitor)

    sub = actions.add_parser(
        "map", help="run a TOML mapping (notes/CCs -> node actions) against the running node"
    )
    sub.add_argument("file", metavar="FILE")
    sub.add_argument("--check", action="store_true", help="only validate the file")
    sub.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    sub.add_argument("--json", action="store_true", help="one JSON object per action, then a summary")
    sub.set_defaults(handler=_map)

    sub = actions.add_parser("clock", help="send MIDI clock (24 ppqn) on the `djmesh` output")
    tempo = sub.add_mutually_exclusive_group(required=True)
    tempo.add_argument("--bpm", type=float, help="a fixed tempo")
    tempo.add_argument("--stream", metavar="STREAM_ID", help="follow the tempo a live stream's DJ declares")
    sub.add_argument(
        "--to", metavar="PORT", help="send to this port (from `midi list`) instead of a virtual one"
    )
    sub.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    sub.add_argument("--json", action="store_true", help="print timing figures at the end")
    sub.set_defaults(handler=_clock)


def _cli_error(message: str) -> Exception:
    from djmesh.node.cli import CliError

    return CliError(message, code=2)


def _seconds(args: argparse.Namespace) -> float | None:
    if args.seconds is not None and not 0 < args.seconds <= 7 * 24 * 3600:
        raise _cli_error("--seconds must be a positive number")
    seconds: float | None = args.seconds
    return seconds


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True), flush=True)


def _list(args: argparse.Namespace) -> int:
    from djmesh.node.midi.ports import list_ports

    found = list_ports()
    if args.json:
        _print_json(found)
        return 0
    print(f"backend: {found['backend']}")
    print("inputs (you can read from):  " + (", ".join(found["inputs"]) or "(none)"))
    print("outputs (you can send to):   " + (", ".join(found["outputs"]) or "(none)"))
    return 0


def _sleep_until(deadline: float | None, step: Any = None) -> None:
    """Sleep until ``deadline`` (monotonic) or Ctrl-C; ``step()`` runs about once a second."""
    try:
        while deadline is None or time.monotonic() < deadline:
            pause = 1.0 if deadline is None else min(1.0, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
            if step is not None:
                step()
    except KeyboardInterrupt:
        pass


def _monitor(args: argparse.Namespace) -> int:
    from djmesh.node.midi.monitor import ControlEvent, MidiMonitor
    from djmesh.node.midi.ports import open_virtual_input

    seconds = _seconds(args)

    def show(event: ControlEvent) -> None:
        if not args.json:
            print(event.describe(), flush=True)

    monitor = MidiMonitor(on_event=show)
    port = open_virtual_input(monitor.on_message)
    if not args.json:
        print("listening on the virtual MIDI input `djmesh` (Ctrl-C to stop)", file=sys.stderr, flush=True)

    def progress() -> None:
        if args.json:
            return
        state = monitor.state()
        if state.bpm is not None:
            where = f"  beat {state.beat:.2f}" if state.beat is not None else ""
            print(
                f"clock {state.bpm:.2f} bpm  {'running' if state.running else 'stopped'}{where}", flush=True
            )

    try:
        _sleep_until(None if seconds is None else time.monotonic() + seconds, progress)
    finally:
        port.close()
    summary = monitor.summary()
    if args.json:
        _print_json(summary)
    else:
        state = "running" if summary["running"] else "stopped"
        print(f"{summary['bpm']:.2f} bpm, {state}, {summary['ticks']} clock ticks")
    return 0


def _map(args: argparse.Namespace) -> int:
    import asyncio

    from djmesh.node.midi.mapping import load_mapping

    mapping = load_mapping(args.file)
    if args.check:
        if args.json:
            _print_json({"ok": True, "bindings": [b.describe() for b in mapping.bindings]})
        else:
            print(f"{args.file}: {len(mapping.bindings)} binding(s) OK")
            for binding in mapping.bindings:
                print(f"  line {binding.line}: {binding.describe()}")
        return 0
    return asyncio.run(_run_map(args, mapping))


async def _run_map(args: argparse.Namespace, mapping: Any) -> int:
    import asyncio

    from djmesh.node.control import ControlClient
    from djmesh.node.midi.bridge import run_bridge
    from djmesh.node.midi.ports import open_virtual_input

    seconds = _seconds(args)
    home: NodeHome = args.home_obj
    client = ControlClient(home, timeout_s=30.0)
    await client.call("status")  # fail now, in one line, if no node is running

    def emit(line: dict[str, Any]) -> None:
        if args.json:
            _print_json(line)
        elif line["event"] == "action":
            outcome = "ok" if line["ok"] else f"failed: {line['error']}"
            print(f"{line['trigger']} -> {line['action']}: {outcome}", flush=True)
        elif not line["ok"]:
            print(f"tempo {line['bpm']:.2f} bpm not declared: {line['error']}", flush=True)

    if not args.json:
        print(
            f"mapping {len(mapping.bindings)} binding(s) from the virtual MIDI input `djmesh`",
            file=sys.stderr,
        )
    try:
        monitor, report = await run_bridge(
            mapping, client.call, open_virtual_input, seconds=seconds, emit=emit
        )
    except asyncio.CancelledError:
        return 130
    summary = {
        **monitor.summary(),
        "actions": report.actions,
        "failed": report.failed,
        "declared": report.declared,
    }
    if args.json:
        _print_json({"event": "summary", **summary})
    else:
        print(f"{report.actions} action(s), {report.failed} failed; clock {summary['bpm']:.2f} bpm")
    return 0


def _clock(args: argparse.Namespace) -> int:
    from djmesh.node.midi.ports import open_output, open_virtual_output
    from djmesh.node.midi.sender import ClockSender, check_bpm

    seconds = _seconds(args)
    follow = _stream_tempo(args) if args.stream else None
    try:
        bpm = check_bpm(args.bpm if args.bpm is not None else _first_tempo(follow))
    except ValueError as exc:
        raise _cli_error(f"--bpm: {exc}") from exc
    port = open_output(args.to) if args.to else open_virtual_output()
    import mido  # type: ignore[import-untyped]

    sender = ClockSender(lambda status: port.send(mido.Message.from_bytes([status])), bpm)

    def step() -> None:
        if follow is not None and (wanted := follow()) is not None and abs(wanted - sender.bpm) >= 0.01:
            sender.bpm = wanted
        if sender.error is not None:
            raise KeyboardInterrupt

    sender.start()
    if not args.json:
        print(
            f"sending MIDI clock at {bpm:.2f} bpm on {args.to or 'the virtual output `djmesh`'}",
            file=sys.stderr,
        )
    try:
        _sleep_until(None if seconds is None else time.monotonic() + seconds, step)
    finally:
        stats = sender.stop()
        port.close()
    if sender.error is not None:
        from djmesh.node.midi.errors import MidiError

        raise MidiError(f"sending MIDI clock failed: {sender.error}")
    if args.json:
        _print_json({"bpm": sender.bpm, **stats.to_json()})
    else:
        print(f"{stats.ticks} ticks in {stats.seconds:.1f} s; late by {stats.mean_late_ms:.2f} ms on average")
    return 0


def _stream_tempo(args: argparse.Namespace) -> Any:
    """A function that asks the running node for a stream's declared tempo (None while it has none)."""
    import asyncio

    from djmesh.node.control import ControlClient

    home: NodeHome = args.home_obj
    client = ControlClient(home, timeout_s=10.0)

    def current() -> float | None:
        streams = asyncio.run(client.call("live_streams"))
        found = next((s for s in streams if s["stream_id"] == args.stream), None)
        if found is None:
            from djmesh.node.cli import CliError

            raise CliError(f"the node does not know stream {args.stream}")
        bpm = found.get("declared_bpm")
        return float(bpm) if bpm is not None else None

    return current


def _first_tempo(follow: Any) -> float:
    bpm = follow()
    if bpm is None:
        from djmesh.node.cli import CliError

        raise CliError("that stream has no declared tempo yet (its DJ sends none); pass --bpm instead")
    return float(bpm)
