"""`djmesh live start|stop|list|set` and `djmesh listen`: drive the running node's live audio."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from djmesh.node.home import NodeHome


def register(commands: Any) -> None:
    live = commands.add_parser(
        "live", help="go live, stop, list streams, fetch sets", description="Live audio."
    )
    actions = live.add_subparsers(dest="live_action", metavar="ACTION", required=True)

    sub = actions.add_parser(
        "start",
        help="stream SOURCE (file, URL, lavfi:GRAPH, - for raw PCM on this command's stdin: it runs until stdin ends)",
    )
    sub.add_argument("source", metavar="SOURCE")
    sub.add_argument("--title")
    sub.add_argument(
        "--bitrate",
        type=int,
        default=128_000,
        help="Opus bit/s (default 128000, at most 457000; above 228000 at a constant bitrate)",
    )
    sub.add_argument(
        "--price",
        type=int,
        metavar="WEI_PER_SECOND",
        help="sell the stream: listeners' nodes pay this through ListenChannel (needs a chain)",
    )
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_start)

    sub = actions.add_parser("stop", help="stop one of this node's streams (default: all)")
    sub.add_argument("stream_id", nargs="?", metavar="STREAM_ID")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_stop)

    sub = actions.add_parser("cue", help="mark a track change now in this node's live stream(s)")
    sub.add_argument("title", nargs="?", default="", metavar="TITLE")
    sub.add_argument("--stream", metavar="STREAM_ID", help="only this stream (default: all of ours)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_cue)

    sub = actions.add_parser("list", help="streams this node has heard of")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_list)

    sub = actions.add_parser("set", help="fetch and verify a finished stream's signed set (and replay it)")
    sub.add_argument("stream_id", metavar="STREAM_ID")
    sub.add_argument("--record", metavar="OUT", help="replay the verified set into OUT (.wav, .ogg or .flac)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_set)

    sub = commands.add_parser(
        "listen", help="listen to a stream (and record it)", description="Listen to a stream."
    )
    sub.add_argument("stream_id", metavar="STREAM_ID")
    sub.add_argument("--record", metavar="OUT", help="write the verified audio to OUT (.wav, .ogg or .flac)")
    sub.add_argument(
        "--seconds", type=float, metavar="N", help="stop after N seconds (default: until it ends)"
    )
    sub.add_argument(
        "--verified-playout",
        action="store_true",
        help="play only audio whose signature verified (about 1.6 s behind instead of a few ms; "
        "config.toml: [live] verified_playout = true)",
    )
    sub.add_argument("--json", action="store_true", help="print latency_ms, lost_frames, hops, bitrate, ...")
    sub.set_defaults(handler=_listen)


def _call(args: argparse.Namespace, method: str, timeout_s: float | None = 60.0, **params: Any) -> Any:
    import asyncio

    from djmesh.node.control import ControlClient

    home: NodeHome = args.home_obj
    return asyncio.run(ControlClient(home, timeout_s=timeout_s).call(method, **params))  # type: ignore[arg-type]


def _print(args: argparse.Namespace, result: Any, text: str) -> int:
    print(json.dumps(result, sort_keys=True) if args.json else text)
    return 0


def _start(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"source": args.source, "title": args.title, "bitrate": args.bitrate}
    if args.price is not None:
        if args.price <= 0:
            from djmesh.node.cli import CliError

            raise CliError("--price must be a positive number of wei per second", code=2)
        params["price_wei_per_s"] = str(args.price)
    from djmesh.node.live.stdin_pipe import is_stdin

    if is_stdin(args.source):
        return _start_from_stdin(args, params)
    result = _call(args, "live_start", **params)
    if not args.json:
        print(f"live: {args.title or args.source}")
    return _print(args, result, result["stream_id"])


def _start_from_stdin(args: argparse.Namespace, params: dict[str, Any]) -> int:
    """`live start -`: the node runs elsewhere, so this command hands it its own stdin through a FIFO
    (``node.live.stdin_pipe``) and keeps running until stdin ends; the stream ends with it."""
    from djmesh.node.live.stdin_pipe import play_stdin

    def start(source: str) -> None:
        result = _call(args, "live_start", **{**params, "source": source})
        if not args.json:
            print(f"live: {args.title or 'stdin'} (until stdin ends)")
        _print(args, result, result["stream_id"])

    return play_stdin(args.source, start)


def _stop(args: argparse.Namespace) -> int:
    result = _call(args, "live_stop", stream_id=args.stream_id)
    return _print(args, result, "\n".join(result["stopped"]) or "(nothing was live)")


def _cue(args: argparse.Namespace) -> int:
    result = _call(args, "live_cue", title=args.title, stream_id=args.stream)
    return _print(args, result, "\n".join(result["streams"]) or "(nothing is live)")


def _list(args: argparse.Namespace) -> int:
    result = _call(args, "live_streams")
    rows = []
    for s in result:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(s["started_at"] / 1000))
        state = "LIVE" if s["live"] else "ended"
        rows.append(f"{s['stream_id']}  {state:5}  {stamp}  {s['dj'][-8:]}  {s['title']}")
    return _print(args, result, "\n".join(rows) or "(no streams)")


def _set(args: argparse.Namespace) -> int:
    record = str(Path(args.record).resolve()) if args.record else None
    result = _call(args, "live_set", timeout_s=600.0, stream_id=args.stream_id, record=record)
    state = "complete" if result["complete"] else f"{result['missing_frames']} frames missing"
    return _print(args, result, f"{result['segments']} segments, {state}: {result['path']}")


def _listen(args: argparse.Namespace) -> int:
    timeout = None if args.seconds is None else args.seconds + 60.0
    params = {"stream_id": args.stream_id, "record": args.record, "seconds": args.seconds}
    if args.verified_playout:
        params["verified_playout"] = True
    if args.record:
        params["record"] = str(Path(args.record).resolve())
    result = _call(args, "listen", timeout_s=timeout, **params)
    if args.json:
        keys = ("latency_ms", "lost_frames", "hops", "bitrate")
        print(json.dumps({**{k: result[k] for k in keys}, **result}, sort_keys=True))
        return 0 if result.get("error") is None else 1
    latency = f"{result['latency_ms']:.1f} ms" if result["latency_ms"] is not None else "-"
    print(
        f"listened {result['seconds']:.1f} s: latency {latency}, {result['lost_frames']} lost, "
        f"{result['hops']} hop(s), {result['bitrate'] / 1000:.0f} kbit/s"
        + (f", {result['audio_gap_ms']:.0f} ms of gaps heard" if result.get("audio_gap_ms") else "")
        + (f", recorded {result['recorded_seconds']:.1f} s to {result['record']}" if result["record"] else "")
    )
    if result.get("error"):
        print(f"djmesh: error: {result['error']}")
        return 1
    return 0
