"""The Opus encoder against the frame datagram's bound: no packet it makes is too big for a link to carry."""

from __future__ import annotations

import av
import numpy as np
import numpy.typing as npt
import pytest

from djmesh.node.live.codec import SAMPLE_RATE, OpusEncoder
from djmesh.protocol.relay import frame_batches
from djmesh.protocol.stream import (
    MAX_LIVE_BITRATE,
    MAX_LIVE_OPUS_PACKET,
    Frame,
    max_live_bitrate,
    opus_packet_bytes,
)

SECONDS = 2


def signals() -> dict[str, npt.NDArray[np.float64]]:
    """What makes libopus's biggest packets: full-band noise, noise bursts (transients), clicks."""
    rng = np.random.default_rng(7)
    n = SAMPLE_RATE * SECONDS
    t = np.arange(n) / SAMPLE_RATE
    noise = rng.standard_normal((n, 2)) * 0.5
    return {
        "noise": noise,
        "bursts": noise * 1.8 * (((t * 7) % 1) < 0.1)[:, None],
        "clicks": np.where(np.arange(n) % 1103 < 3, 0.99, 0.0)[:, None] * np.ones((1, 2)),
    }


def packets(signal: npt.NDArray[np.float64], bitrate: int, frame_ms: int) -> tuple[list[bytes], bool]:
    encoder = OpusEncoder(bitrate=bitrate, frame_ms=frame_ms)
    pcm = (np.clip(signal, -1, 1) * 32767).astype(np.int16)
    out: list[bytes] = []
    step = encoder.frame_samples
    for start in range(0, len(pcm) - step + 1, step):
        frame = av.AudioFrame.from_ndarray(
            pcm[start : start + step].reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = SAMPLE_RATE
        out += encoder.encode(frame)
    return out + encoder.flush(), encoder.vbr


@pytest.mark.parametrize(
    ("bitrate", "frame_ms"),
    [
        (192_000, 20),
        (228_000, 20),
        (229_000, 20),
        (320_000, 20),
        (MAX_LIVE_BITRATE, 20),
        (max_live_bitrate(10), 10),
    ],
)
def test_every_packet_fits_a_frame_datagram_up_to_the_top_bitrate(bitrate: int, frame_ms: int) -> None:
    share = opus_packet_bytes(bitrate, frame_ms, vbr=False)  # the bitrate's share of one frame
    sizes: list[int] = []
    for signal in signals().values():
        made, vbr = packets(signal, bitrate, frame_ms)
        assert vbr == (bitrate <= 228_000 or (frame_ms == 10 and bitrate <= 456_000)), (
            "VBR only where it fits"
        )
        sizes += [len(packet) for packet in made]
        frame_batches(Frame(seq, seq, packet).encode() for seq, packet in enumerate(made))  # never raises
    assert max(sizes) <= MAX_LIVE_OPUS_PACKET
    if vbr and frame_ms == 20:
        assert max(sizes) > 1.8 * share, "the signals reach VBR's peaks: about twice the bitrate's share"
    elif not vbr:
        assert max(sizes) <= share, "a constant bitrate: no packet over its share"
