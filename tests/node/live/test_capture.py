"""Sources FFmpeg reads (FIFO raw PCM, http, lavfi, files) become 20 ms Opus frames; recordings by extension."""

from __future__ import annotations

import contextlib
import functools
import http.server
import math
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from djmesh.node.live.capture import primed_packets
from djmesh.node.live.codec import OpusDecoder
from djmesh.node.live.errors import LiveError
from djmesh.node.live.recorder import Recorder
from tests.node.live.mesh import dominant_hz, read_audio

pytestmark = pytest.mark.timeout(60)


def packets(source: str, limit: int = 10_000) -> list[bytes]:
    out = []
    for packet in primed_packets(source, bitrate=128_000, channels=2, frame_ms=20, stop=threading.Event()):
        out.append(packet)
        if len(out) >= limit:
            break
    return out


def decoded(frames: list[bytes]) -> np.ndarray:
    decoder = OpusDecoder()
    return np.concatenate([decoder.decode(p) for p in frames])


def pcm_s16(seconds: float, hz: float, rate: int = 48_000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    mono = (0.4 * np.sin(2 * math.pi * hz * t) * 32767).astype("<i2")
    return np.repeat(mono[:, None], 2, axis=1).tobytes()


def test_raw_pcm_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "deck.pcm"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(pcm_s16(1.0, 330)))
    writer.start()
    frames = packets(str(fifo))
    writer.join()
    assert 48 <= len(frames) <= 52
    assert abs(dominant_hz(decoded(frames)[2400:]) - 330) < 3


def test_lavfi_and_http(tmp_path: Path) -> None:
    assert len(packets("lavfi:sine=frequency=440", limit=25)) == 25
    import av

    with av.open(str(tmp_path / "mix.wav"), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=48_000)
        stream.layout = "stereo"
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(pcm_s16(0.5, 550), "<i2").reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    with _serving(tmp_path) as port:
        frames = packets(f"http://127.0.0.1:{port}/mix.wav")
    assert 24 <= len(frames) <= 27
    assert abs(dominant_hz(decoded(frames)[2400:]) - 550) < 5


class _Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass


@contextlib.contextmanager
def _serving(directory: Path) -> Iterator[int]:
    """A local http server for ``directory``; yields its port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = _Quiet(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def lmms_loop() -> Iterator[Path]:
    path = Path("/usr/share/lmms/samples/beats/house_loop01.ogg")
    if not path.exists():
        pytest.skip("lmms-common is not installed")
    yield path


def test_a_real_ogg_vorbis_loop(lmms_loop: Path) -> None:
    frames = packets(str(lmms_loop))
    assert len(frames) > 50 and all(len(p) < 1275 for p in frames)


@pytest.mark.parametrize("suffix", [".wav", ".ogg", ".flac"])
def test_recorder_formats_by_extension(tmp_path: Path, suffix: str) -> None:
    recorder = Recorder(tmp_path / f"out{suffix}")
    tone = np.frombuffer(pcm_s16(1.0, 440), "<i2").reshape(-1, 2).astype(np.float32) / 32768
    for start in range(0, tone.shape[0], 960):
        recorder.write(tone[start : start + 960])
    recorder.close()
    audio = read_audio(tmp_path / f"out{suffix}")
    assert abs(audio.shape[0] / 48_000 - 1.0) < 0.05
    assert abs(dominant_hz(audio[2400:]) - 440) < 3


def test_recorder_refuses_unknown_extensions(tmp_path: Path) -> None:
    with pytest.raises(LiveError, match=r"\.wav"):
        Recorder(tmp_path / "out.mp4")
