"""A DJ's signed set built in memory (real Opus audio, real signatures), for recording and sharing tests."""

from __future__ import annotations

import av
import nacl.signing
import numpy as np

from djmesh.node.live.codec import OpusEncoder
from djmesh.node.live.sets import SetSegment, StoredSet
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.stream import Frame, SegmentSigner, StreamAnnounce, StreamEnd

FRAMES_PER_SEGMENT = 5
DJ_KEY = nacl.signing.SigningKey(b"d" * 32)


def opus_frames(count: int, hz: float) -> list[bytes]:
    """``count`` 20 ms Opus packets of a stereo sine (real audio, so decoding has state to carry)."""
    encoder = OpusEncoder()
    t = np.arange(960 * count) / 48_000
    tone = (0.4 * np.sin(2 * np.pi * hz * t) * 32767).astype(np.int16)
    packets: list[bytes] = []
    for i in range(count):
        chunk = np.repeat(tone[i * 960 : (i + 1) * 960], 2).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout="stereo")
        frame.sample_rate = 48_000
        packets += encoder.encode(frame)
    packets += encoder.flush()
    return packets[:count]


def signed_set(
    segments: int, hz: float = 440.0, now: int = 1_800_000_000_000
) -> tuple[StoredSet, SignedEnvelope]:
    """The DJ's whole set of ``segments`` segments and its signed ``stream_end`` (``now`` names the stream)."""
    announce = sign(
        StreamAnnounce(title="t", segment_frames=FRAMES_PER_SEGMENT, nonce=b"n"), DJ_KEY, created_at_ms=now
    )
    signer = SegmentSigner(DJ_KEY, announce.content_id, FRAMES_PER_SEGMENT)
    frames = [
        Frame(seq, seq * 20_000, payload)
        for seq, payload in enumerate(opus_frames(segments * FRAMES_PER_SEGMENT, hz))
    ]
    out: list[SetSegment] = []
    for start in range(0, len(frames), FRAMES_PER_SEGMENT):
        batch = frames[start : start + FRAMES_PER_SEGMENT]
        manifest = None
        for frame in batch:
            manifest = signer.add(frame)
        assert manifest is not None
        out.append(SetSegment(manifest, tuple(batch)))
    end = sign(
        StreamEnd(announce.content_id, segments=signer.index, frames=signer.frames, head=signer.head),
        DJ_KEY,
        created_at_ms=now + 1,
    )
    return StoredSet(announce, tuple(out), end), end


def with_lost_frame(segment: SetSegment) -> SetSegment:
    return SetSegment(segment.manifest, (None, *segment.frames[1:]))
