"""A listener's recording: segments kept from the first one received, gaps filled, the DJ's exact set assembled.

Every member of a committee must judge the same bytes whatever it received live, so what is
assembled is the chain the DJ's signed ``stream_end`` names, and a set with a hole never is.
"""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import numpy as np
import pytest

from djmesh.dsp.features import extract, pcm_blocks
from djmesh.node.live import sharing
from djmesh.node.live.recording import IncompleteSetError, SetRecording, assemble
from djmesh.node.live.session import Request
from djmesh.node.live.set_audio import SetDecoding, decode_mono
from djmesh.node.live.sets import SetSegment
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import BadSignatureError
from djmesh.protocol.stream import SegmentSigner
from tests.helpers.features import assert_same_features
from tests.helpers.signed_sets import FRAMES_PER_SEGMENT, signed_set, with_lost_frame


async def test_a_late_listener_fills_its_gaps_and_gets_the_djs_exact_set_and_audio(tmp_path: Path) -> None:
    dj_set, end = signed_set(6)
    whole = decode_mono(dj_set)
    segments = dj_set.segments
    decoding = SetDecoding(dj_set.announce, features=True)
    recording = SetRecording(tmp_path / "s.djset.part", dj_set.announce, on_whole=decoding.offer)

    # joined at segment 3, lost a frame of segment 4 on the way
    for segment in (segments[3], with_lost_frame(segments[4]), segments[5]):
        recording.add(segment)
    assert recording.missing() == [0, 1, 2, 4]
    assert recording.missing(6) == [0, 1, 2, 4]
    with pytest.raises(IncompleteSetError):
        assemble(recording.path, end)  # never a set with a hole

    for segment in (segments[0], segments[4], segments[2], segments[1]):  # fetched from peers, any order
        recording.add(segment)
    assert recording.missing(6) == []
    assembled = assemble(recording.path, end)
    assert assembled.complete
    assert [s.record() for s in assembled.segments] == [s.record() for s in dj_set.segments]

    # decoded while it arrived, in arrival order: the same samples as decoding the whole set
    audio = await decoding.audio(assembled.head)
    assert audio is not None and audio.dtype == np.float32
    assert audio.shape == whole.shape == (6 * FRAMES_PER_SEGMENT * 960,)
    assert np.array_equal(audio, whole)
    assert np.abs(whole).max() > 0.1
    # and the judge's feature pass, run on the samples as they were decoded, is that of the whole set
    result = await decoding.result(assembled.head)
    assert result is not None and result.features is not None and np.array_equal(result.mono, whole)
    assert_same_features(result.features, extract(pcm_blocks(whole, 48_000), 48_000, 1))
    decoding.close()


async def test_a_judge_reads_only_the_rules_set_length_whatever_the_dj_streams() -> None:
    dj_set, _ = signed_set(6)
    whole = decode_mono(dj_set)
    limit = int(2.5 * FRAMES_PER_SEGMENT * 960)  # the rules' set length: two and a half segments
    decoding = SetDecoding(dj_set.announce, max_samples=limit, features=True)
    for segment in dj_set.segments:
        decoding.offer(segment)
    # the capped decoding answers before the DJ's last segment is decoded, with the same first samples
    audio = await decoding.audio(dj_set.head)
    assert audio is not None and np.array_equal(audio, whole[:limit])
    cut = await decoding.result(dj_set.head)  # with the feature pass of exactly those samples
    assert cut is not None and cut.features is not None and np.array_equal(cut.mono, whole[:limit])
    assert_same_features(cut.features, extract(pcm_blocks(whole[:limit], 48_000), 48_000, 1))
    assert decoding.decoded_head == dj_set.segments[2].manifest.digest  # segments 3-5 never decoded
    assert np.array_equal(decode_mono(dj_set, max_samples=limit), whole[:limit])
    decoding.close()


def test_the_mono_mix_is_the_mean_of_the_channels_bit_for_bit() -> None:
    """Every member must judge the same samples: the stereo fast path gives ``mean(axis=1)``'s float32 bits,
    at the extremes too (the smallest and largest floats, signed zeros, infinities)."""
    from djmesh.node.live.set_audio import _mono

    rng = np.random.default_rng(7)
    stereo = (rng.standard_normal((48_000, 2)) * 0.5).astype(np.float32)
    tiny, huge = np.finfo(np.float32).smallest_subnormal, np.finfo(np.float32).max
    stereo[:8] = [
        [tiny, tiny],
        [tiny, 0],
        [huge, huge],
        [-0.0, 0.0],
        [-0.0, -0.0],
        [np.inf, 1],
        [1, 2**-24],
        [-1, 1],
    ]
    with np.errstate(over="ignore"):
        expected = stereo.mean(axis=1).astype(np.float32)
        assert _mono(stereo).view(np.uint32).tolist() == expected.view(np.uint32).tolist()
    assert np.array_equal(_mono(stereo[:, :1]), stereo[:, 0])  # mono stays as it is


async def test_a_segment_off_the_signed_chain_is_never_assembled(tmp_path: Path) -> None:
    dj_set, end = signed_set(4)
    # the DJ signed other audio as segment 2 of the same stream (equivocation), and another stream
    equivocation, _ = signed_set(4, hz=880.0)
    another_stream, _ = signed_set(4, now=1_800_000_000_001)
    recording = SetRecording(tmp_path / "s.djset.part", dj_set.announce)
    for segment in dj_set.segments:
        if segment.manifest.index != 2:
            recording.add(segment)
    assert not recording.add(another_stream.segments[2])
    assert recording.missing(4) == [2]
    assert recording.add(equivocation.segments[2])
    assert recording.missing(4) == []  # an index is held, but not the segment the signed end chains to
    with pytest.raises(IncompleteSetError):
        assemble(recording.path, end)

    # a peer serving a forged segment: refused at the signature, nothing kept
    forger = nacl.signing.SigningKey(b"f" * 32)
    forged_signer = SegmentSigner(forger, dj_set.stream, FRAMES_PER_SEGMENT)
    forged_manifest = None
    for frame in dj_set.segments[2].frames:
        assert frame is not None
        forged_manifest = forged_signer.add(frame)
    assert forged_manifest is not None
    forged = SetSegment(forged_manifest, dj_set.segments[2].frames)

    async def lying_peer(_peer: str, request: Request) -> dict[str, CborValue]:
        return {"announce": dj_set.announce.wire, "end": None, "segments": [forged.record()], "more": False}

    kept: list[SetSegment] = []
    with pytest.raises(BadSignatureError):
        await sharing.fetch_segments(lying_peer, "liar", dj_set.announce, [2], kept.append)
    assert kept == []

    async def honest_peer(_peer: str, request: Request) -> dict[str, CborValue]:
        page = dj_set.segments[request.start : request.start + request.limit]
        return {"announce": dj_set.announce.wire, "end": end.wire, "segments": [s.record() for s in page]}

    await sharing.fetch_segments(honest_peer, "friend", dj_set.announce, [2], recording.add)
    assert recording.missing(4) == []
    assert assemble(recording.path, end).complete
