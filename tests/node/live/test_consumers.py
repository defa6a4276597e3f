"""A listen session's playout: what reaches the sink, and the stats a listener reads."""

from __future__ import annotations

import av
import numpy as np

from djmesh.node.clock import VirtualClock, monotonic, now_us, run_virtual, sleep
from djmesh.node.live.codec import PCM, SAMPLE_RATE, OpusEncoder
from djmesh.node.live.consumers import ListenSession, ListenStats
from djmesh.node.live.device_queue import DEVICE_LEAD_S, DeviceQueue
from djmesh.node.live.sinks import NullSink
from djmesh.protocol.stream import Playout

FRAME = SAMPLE_RATE // 50  # 20 ms


def opus_frames(count: int) -> list[bytes]:
    encoder = OpusEncoder()
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(FRAME * count) / SAMPLE_RATE)).astype(np.int16)
    packets: list[bytes] = []
    for index in range(count):
        chunk = np.repeat(tone[index * FRAME : (index + 1) * FRAME], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = SAMPLE_RATE
        packets += encoder.encode(frame)
    return packets


class Capture:
    device_queue: DeviceQueue | None = None

    def __init__(self) -> None:
        self.chunks: list[PCM] = []

    def play(self, pcm: PCM) -> None:
        self.chunks.append(pcm)

    def close(self) -> None:
        pass


def play(session: ListenSession, payloads: list[bytes | None]) -> None:
    for seq, payload in enumerate(payloads):
        ts_us = seq * 20_000
        session.on_playout(Playout(seq, ts_us, payload, ts_us + 5_000), ts_us + 5_000)


def test_a_sound_device_gets_decoded_audio_and_silence_for_lost_frames() -> None:
    sink = Capture()
    session = ListenSession("s", sink=sink, recorder=None, channels=2, frame_ms=20)
    packets = opus_frames(10)
    play(session, [*packets[:5], None, *packets[6:]])
    assert [chunk.shape for chunk in sink.chunks] == [(FRAME, 2)] * 10
    assert np.abs(sink.chunks[4]).max() > 0.05 and not sink.chunks[5].any()
    stats = session.finish(hops=1, dropped={}, jitter_delay_us=4_000, reparents=0)
    assert (stats.played_frames, stats.lost_frames, stats.latency_ms) == (9, 1, 5.0)


def test_an_empty_payload_is_heard_as_a_lost_frame_and_the_sound_goes_on() -> None:
    """FFmpeg takes an empty packet as the end of the stream: decoded, it left every later frame silent."""
    sink = Capture()
    session = ListenSession("s", sink=sink, recorder=None, channels=2, frame_ms=20)
    packets = opus_frames(10)
    play(session, [*packets[:5], b"", *packets[6:]])
    assert not sink.chunks[5].any()
    assert all(np.abs(chunk).max() > 0.05 for chunk in sink.chunks[6:])


def test_a_null_sink_counts_the_audio_it_drops_with_the_same_stats() -> None:
    """A headless listener (no sound device) skips Opus decode; its sink and stats read as if it had not."""
    sink = NullSink()
    session = ListenSession("s", sink=sink, recorder=None, channels=2, frame_ms=20)
    packets = opus_frames(10)
    play(session, [*packets[:5], None, *packets[6:]])
    assert sink.samples == 10 * FRAME
    stats = session.finish(hops=1, dropped={}, jitter_delay_us=4_000, reparents=0)
    assert (stats.played_frames, stats.lost_frames, stats.latency_ms) == (9, 1, 5.0)
    assert stats.first_audio_ms is not None and stats.bitrate > 0


def test_a_listen_reports_the_silence_a_sound_device_played() -> None:
    """``audio_gap_ms``: a playout that stalls longer than the device's lead is heard, a shorter one is not."""

    async def listen(stall_s: float) -> ListenStats:
        session = ListenSession("s", sink=NullSink(), recorder=None, channels=2, frame_ms=20)
        start = monotonic()
        for seq, payload in enumerate(opus_frames(100)):
            if seq == 50:
                await sleep(stall_s)  # the loop is held; the frames due meanwhile then play at once
            await sleep(max(0.0, start + seq * 0.02 - monotonic()))
            session.on_playout(Playout(seq, seq * 20_000, payload, seq * 20_000), now_us())
        return session.finish(hops=1, dropped={}, jitter_delay_us=4_000, reparents=0)

    short = run_virtual(listen(DEVICE_LEAD_S / 2), VirtualClock())
    assert (short.audio_gap_ms, short.underruns) == (0.0, 0)
    stalled = run_virtual(listen(DEVICE_LEAD_S + 0.3), VirtualClock())
    assert stalled.underruns == 1 and 250.0 <= stalled.audio_gap_ms <= 300.0, stalled
