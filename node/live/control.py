"""Control API methods for live audio; the integrator merges ``LIVE_METHODS`` into ``node.control.METHODS``.

Same handler shape as there: ``async def handler(node, params) -> JSON-able``.
"""

from __future__ import annotations

from typing import Any

from djmesh.node import control_params as req
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError
from djmesh.node.live.feed import FEED_METHODS
from djmesh.node.live.service import ensure_live
from djmesh.node.node import Node
from djmesh.protocol.stream import MAX_BITRATE, MIN_BITRATE


def refuse_node_stdin(source: str) -> None:
    """A running node's stdin is not its control client's: ``-`` would read whatever the daemon was started
    with. `djmesh live start -` hands the node its own stdin through a FIFO (``node.live.stdin_pipe``)."""
    from djmesh.node.live.stdin_pipe import is_stdin

    if is_stdin(source):
        raise ControlError(
            f"source {source!r} would read the node's own stdin: pipe audio into `djmesh live start -` "
            "(it streams its stdin to the node), or give a FIFO made with mkfifo"
        )


async def _live_start(node: Node, params: dict[str, Any]) -> Any:
    live = await ensure_live(node)
    source = req.text(params, "source")
    assert source is not None
    refuse_node_stdin(source)
    bitrate = req.number(params, "bitrate", 128_000, MIN_BITRATE, MAX_BITRATE)
    stream_id = await live.start_stream(
        source, title=req.optional_text(params, "title"), bitrate=int(bitrate or 0)
    )
    return {"stream_id": stream_id}


async def _live_stop(node: Node, params: dict[str, Any]) -> Any:
    live = await ensure_live(node)
    return {"stopped": await live.stop_stream(req.optional_text(params, "stream_id"))}


async def _live_streams(node: Node, params: dict[str, Any]) -> Any:
    live = await ensure_live(node)
    return [info.to_json() for info in live.streams()]


async def _listen(node: Node, params: dict[str, Any]) -> Any:
    live = await ensure_live(node)
    stream_id = req.text(params, "stream_id")
    assert stream_id is not None
    seconds = req.number(params, "seconds", None, 0.1, 7 * 24 * 3600)
    verified = req.boolean(params, "verified_playout", False)  # on top of config.toml's [live] default
    stats = await live.listen(
        stream_id, record=req.optional_text(params, "record"), seconds=seconds, verified_playout=verified
    )
    return stats.to_json()


async def _live_set(node: Node, params: dict[str, Any]) -> Any:
    """Fetch (if needed) and verify a finished stream's set; where it is stored."""
    live = await ensure_live(node)
    stream_id = req.text(params, "stream_id")
    assert stream_id is not None
    stored = await live.fetch_set(stream_id)
    record = req.optional_text(params, "record")
    seconds = await live.export_set(stream_id, record) if record else None
    return {
        "recorded_seconds": seconds,
        "stream_id": stream_id,
        "segments": len(stored.segments),
        "frames": sum(len(s.frames) for s in stored.segments),
        "missing_frames": stored.missing_frames,
        "complete": stored.complete,
        "head": stored.head.hex(),
        "path": str(live.sets.path(stored.stream)),
    }


async def _live_tempo(node: Node, params: dict[str, Any]) -> Any:
    """Declare the tempo (from MIDI clock) in this node's live streams: ``{bpm, running?, beat_us?, stream_id?}``."""
    live = await ensure_live(node)
    bpm = req.number(params, "bpm", None, 20, 400)
    if bpm is None:
        raise ControlError("missing parameter 'bpm'")
    running = params.get("running", True)
    beat_us = params.get("beat_us")
    if not isinstance(running, bool):
        raise ControlError("running must be true or false")
    if beat_us is not None and (isinstance(beat_us, bool) or not isinstance(beat_us, int) or beat_us < 0):
        raise ControlError("beat_us must be a non-negative integer (us since the Unix epoch)")
    source = req.optional_text(params, "source") or "midi_clock"
    streams = await live.declare_tempo(
        bpm,
        running=running,
        beat_us=beat_us,
        source=source,
        stream_id=req.optional_text(params, "stream_id"),
    )
    return {"streams": streams}


async def _live_cue(node: Node, params: dict[str, Any]) -> Any:
    """Mark a track change now in this node's live streams: ``{title?, stream_id?}``."""
    live = await ensure_live(node)
    title = params.get("title") or ""
    if not isinstance(title, str):
        raise ControlError("title must be text")
    streams = await live.mark_cue(title, stream_id=req.optional_text(params, "stream_id"))
    return {"streams": streams}


LIVE_METHODS: dict[str, Handler] = {
    "live_start": _live_start,
    "live_stop": _live_stop,
    "live_streams": _live_streams,
    "listen": _listen,
    "live_set": _live_set,
    "live_tempo": _live_tempo,
    "live_cue": _live_cue,
    **FEED_METHODS,  # live_meters, live_audio: streaming answers for an attached UI
}
