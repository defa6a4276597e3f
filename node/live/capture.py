"""Any FFmpeg input to Opus frames: decode, resample to 48 kHz, cut 20 ms frames, encode.

Runs in a thread (PyAV blocks); the broadcast paces what it produces to real time. Source
strings: a file path or URL (http, udp, rtmp, ...), ``lavfi:GRAPH`` (e.g.
``lavfi:sine=frequency=440``), ``alsa:DEVICE``, ``-`` for raw PCM on stdin, or a FIFO path
(raw PCM). Raw PCM is s16le, 48 kHz, stereo unless ``?rate=R&channels=C`` is appended.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
from collections.abc import Callable, Generator, Iterator
from typing import Any
from urllib.parse import parse_qs

import av

from djmesh.node.live.codec import SAMPLE_RATE, OpusEncoder, layout_name
from djmesh.node.live.errors import SourceError
from djmesh.protocol.stream import MAX_LIVE_OPUS_PACKET

log = logging.getLogger(__name__)
OPEN_TIMEOUT_S = 15.0


def _raw_options(query: str) -> dict[str, str]:
    params = parse_qs(query)
    rate = params.get("rate", ["48000"])[0]
    channels = params.get("channels", ["2"])[0]
    if not rate.isdigit() or channels not in ("1", "2"):
        raise SourceError("raw PCM options: rate=<Hz>&channels=1|2")
    return {"sample_rate": rate, "ch_layout": layout_name(int(channels))}


def open_source(source: str) -> Any:
    """Open ``source`` with PyAV; ``SourceError`` with a readable reason if it cannot be."""
    if not source or not isinstance(source, str):
        raise SourceError("empty source")
    path, _, query = source.partition("?")
    fmt: str | None = None
    options: dict[str, str] = {}
    target = source
    if source.startswith("lavfi:"):
        fmt, target = "lavfi", source[len("lavfi:") :]
    elif source.startswith("alsa:"):
        fmt, target = "alsa", source[len("alsa:") :] or "default"
    elif path in ("-", "stdin"):
        fmt, target, options = "s16le", "pipe:0", _raw_options(query)
    elif "://" not in source:
        try:
            mode = os.stat(path).st_mode
        except OSError as exc:
            raise SourceError(f"cannot open {source}: {exc.strerror or exc}") from exc
        if stat.S_ISDIR(mode):
            raise SourceError(f"{source} is a directory, not audio")
        if stat.S_ISFIFO(mode):
            fmt, target, options = "s16le", path, _raw_options(query)
        else:
            target = path
    else:
        options = {"rw_timeout": str(int(OPEN_TIMEOUT_S * 1e6))}
    try:
        container = av.open(target, format=fmt, options=options, timeout=OPEN_TIMEOUT_S)
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise SourceError(f"cannot open {source}: {exc}") from exc
    if not container.streams.audio:
        container.close()
        raise SourceError(f"{source} has no audio stream")
    return container


def encoded_frames(
    container: Any,
    *,
    bitrate: int,
    channels: int = 2,
    frame_ms: int = 20,
    stop: threading.Event | None = None,
) -> Generator[bytes, None, None]:
    """Opus packets of ``frame_ms`` each, until the source ends; ``SourceError`` if it breaks."""
    encoder = OpusEncoder(bitrate=bitrate, channels=channels, frame_ms=frame_ms)
    resampler = av.AudioResampler(format="s16", layout=layout_name(channels), rate=SAMPLE_RATE)
    fifo = av.AudioFifo()
    stream = container.streams.audio[0]
    decoded = 0
    try:
        for frame in container.decode(stream):
            if stop is not None and stop.is_set():
                return
            decoded += 1
            frame.pts = None  # timestamps may start anywhere or jump (pre-skip, cuts): we pace by count
            for resampled in resampler.resample(frame):
                fifo.write(resampled)
            while fifo.samples >= encoder.frame_samples:
                yield from _fitting(encoder.encode(fifo.read(encoder.frame_samples)))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        if decoded == 0:
            raise SourceError(f"source is not decodable audio: {exc}") from exc
        raise SourceError(f"source failed after {decoded} frames: {exc}") from exc
    finally:
        container.close()
    if decoded == 0:
        raise SourceError("source has no decodable audio")
    yield from _fitting(encoder.flush())


def _fitting(packets: list[bytes]) -> list[bytes]:
    """``packets`` without any too big for a frame datagram (the encoder's settings make none: a libopus that
    did would otherwise stall every link it went down), or empty (no listener would take it)."""
    fitting = [packet for packet in packets if 0 < len(packet) <= MAX_LIVE_OPUS_PACKET]
    if len(fitting) < len(packets):
        sizes = [len(packet) for packet in packets if not 0 < len(packet) <= MAX_LIVE_OPUS_PACKET]
        log.warning("dropped Opus packets of %s bytes: a frame carries 1 to %d", sizes, MAX_LIVE_OPUS_PACKET)
    return fitting


def primed_packets(
    source: str, *, bitrate: int, channels: int, frame_ms: int, stop: threading.Event
) -> Iterator[bytes]:
    """Open ``source`` and encode its first frame (blocking), so a bad source fails before going live."""
    container = open_source(source)
    packets = encoded_frames(container, bitrate=bitrate, channels=channels, frame_ms=frame_ms, stop=stop)
    try:
        first = next(packets)
    except StopIteration:
        raise SourceError(f"{source} ended before its first audio frame") from None
    return _prepend(first, packets)


def _prepend(first: bytes, packets: Generator[bytes, None, None]) -> Generator[bytes, None, None]:
    """``first``, then ``packets``; closing it closes ``packets`` (and so the source) at once."""
    try:
        yield first
        yield from packets
    finally:
        packets.close()


class CaptureThread:
    """Pulls Opus packets from ``packets`` on a thread into ``deliver``; ``deliver(None, error)`` at the end."""

    def __init__(
        self,
        packets: Iterator[bytes],
        deliver: Callable[[bytes | None, str | None], bool],
        stop: threading.Event,
    ) -> None:
        self._packets = packets
        self._deliver = deliver
        self.stop = stop
        self._thread = threading.Thread(target=self._run, name="djmesh-capture", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        error: str | None = None
        try:
            for packet in self._packets:
                if not self._deliver(packet, None) or self.stop.is_set():
                    return
        except SourceError as exc:
            error = str(exc)
        except Exception as exc:  # a PyAV surprise must end the stream, not the node
            log.exception("capture failed")
            error = f"capture failed: {type(exc).__name__}: {exc}"
        finally:
            # a stopped broadcast lets go of its source now: a sound card, a FIFO whose writer waits for the
            # reader to leave, a network stream (left to the garbage collector, it stayed open for good)
            close = getattr(self._packets, "close", None)
            if close is not None:
                close()
        self._deliver(None, error)
