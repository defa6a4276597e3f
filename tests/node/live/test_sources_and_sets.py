"""Bad and short sources (clear errors, no crash), and finished sets fetched from a peer and replayed verified."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import av
import numpy as np
import pytest

from djmesh.dsp.features import extract, pcm_blocks
from djmesh.node.live import LiveError, SourceError, sharing
from djmesh.node.live.set_audio import decode_mono
from djmesh.node.live.sets import read_set
from djmesh.protocol.errors import ProtocolError
from tests.helpers.features import assert_same_features
from tests.helpers.network import bootstrap_server, wait_until
from tests.node.live.mesh import dominant_hz, live_nodes, read_audio

pytestmark = pytest.mark.timeout(180)


def write_sine(path: Path, seconds: float, hz: float, rate: int = 44_100) -> None:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.5 * np.sin(2 * math.pi * hz * t) * 32767).astype(np.int16)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def write_opus(path: Path, seconds: float, hz: float) -> None:
    """An Ogg Opus file (its timestamps start at the pre-skip, not 0)."""
    rate = 48_000
    tone = (0.5 * np.sin(2 * math.pi * hz * np.arange(int(seconds * rate)) / rate)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libopus", rate=rate)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)


async def test_bad_sources_fail_clearly_and_the_node_carries_on(tmp_path: Path) -> None:
    (tmp_path / "noise.mp3").write_bytes(bytes(range(256)) * 64)
    (tmp_path / "empty.wav").write_bytes(b"")
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj"]) as nodes:
        [(_node, live)] = nodes
        for source, words in (
            (str(tmp_path / "missing.wav"), "cannot open"),
            (str(tmp_path / "noise.mp3"), "noise.mp3"),
            (str(tmp_path / "empty.wav"), "empty.wav"),
            (str(tmp_path), "directory"),
            ("lavfi:no_such_filter=1", "cannot open"),
            ("", "empty"),
        ):
            with pytest.raises(SourceError, match=words):
                await live.start_stream(source)
        assert live.streams() == []
        with pytest.raises(LiveError):
            await live.listen("zz")
        with pytest.raises(LiveError):
            await live.start_stream("lavfi:sine", bitrate=1)
        write_sine(tmp_path / "ok.wav", 0.5, 330)
        stream_id = await live.start_stream(str(tmp_path / "ok.wav"))  # still works
        broadcast = live._broadcasts[bytes.fromhex(stream_id)]
        await wait_until(broadcast.done.is_set, what="the short stream to end")
        assert not live.streams()[0].live and broadcast.error is None
        stored = live.stored_set(stream_id)
        assert stored is not None and stored.complete

        # Corrupt in the middle: the stream ends early, cleanly, with what could be decoded signed.
        write_opus(tmp_path / "whole.ogg", 3.0, 440)
        data = bytearray((tmp_path / "whole.ogg").read_bytes())
        data[len(data) // 2 : len(data) // 2 + 2000] = bytes(range(250)) * 8
        (tmp_path / "broken.ogg").write_bytes(bytes(data))
        stream_id = await live.start_stream(str(tmp_path / "broken.ogg"))
        broadcast = live._broadcasts[bytes.fromhex(stream_id)]
        await wait_until(broadcast.done.is_set, what="the broken stream to end")
        stored = live.stored_set(stream_id)
        assert stored is not None and stored.complete
        assert 20 <= sum(len(s.frames) for s in stored.segments) < 150


SHORT_S = 5.0


async def test_a_source_that_ends_early_ends_the_stream_and_its_set_replays(tmp_path: Path) -> None:
    # long enough that a listener joining late on a busy machine still hears over 1.5 s of it
    write_sine(tmp_path / "short.wav", SHORT_S, 660)
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "fan", "late"]) as nodes:
        (_, dj), (_, fan), (_, late) = nodes
        stream_id = await dj.start_stream(str(tmp_path / "short.wav"), title="short one")
        stats = await fan.listen(stream_id, record=str(tmp_path / "fan.ogg"), seconds=30)
        assert stats.ended and stats.error is None and stats.seconds < SHORT_S + 12
        recording = read_audio(tmp_path / "fan.ogg")
        assert recording.shape[0] > 1.5 * 48_000 and abs(dominant_hz(recording[4800:]) - 660) < 3

        # The DJ kept the set; a node that never listened fetches it and checks every signature.
        await wait_until(
            lambda: any(not s.live for s in late.streams()), timeout=20, what="stream_end gossip"
        )
        fetched = await late.fetch_set(stream_id)
        assert fetched.complete and fetched.missing_frames == 0
        assert sum(len(s.frames) for s in fetched.segments) >= SHORT_S * 50 - 10
        replay = np.concatenate([chunk async for chunk in late.set_pcm(stream_id)])
        assert abs(replay.shape[0] / 48_000 - SHORT_S) < 0.1
        assert abs(dominant_hz(replay[4800:]) - 660) < 3
        seconds = await late.export_set(stream_id, str(tmp_path / "replay.flac"))
        assert abs(seconds - SHORT_S) < 0.1
        assert abs(dominant_hz(read_audio(tmp_path / "replay.flac")[4800:]) - 660) < 3
        with pytest.raises(LiveError, match="ended"):
            await late.listen(stream_id)

        # A set file altered on disk no longer loads.
        path = late.sets.path(bytes.fromhex(stream_id))
        data = bytearray(path.read_bytes())
        data[len(data) // 2] ^= 0xFF
        path.write_bytes(bytes(data))
        with pytest.raises(ProtocolError):
            read_set(path)


async def test_verified_pcm_for_the_judge(tmp_path: Path) -> None:
    """What the battle feature consumes: the decoded, verified audio of a live stream."""
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "judge"]) as nodes:
        (_, dj), (_, judge) = nodes
        stream_id = await dj.start_stream("lavfi:sine=frequency=550", title="battle")
        chunks = []

        async def collect() -> None:
            async for chunk in judge.pcm(stream_id):
                chunks.append(chunk)
                if len(chunks) == 3:
                    return

        await asyncio.wait_for(collect(), 30)
        audio = np.concatenate(chunks)
        assert audio.dtype == np.float32 and audio.shape == (3 * 48_000, 2)
        assert abs(dominant_hz(audio) - 550) < 3
        async for own in dj.pcm(stream_id):  # the DJ's own node too
            assert own.shape == (48_000, 2)
            break
        await dj.stop_stream(stream_id)


async def test_a_late_listener_keeps_the_whole_set_from_its_recording_and_the_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A judge that joins after the first segments records from the first one it gets, fetches only
    what it lacks, and has the DJ's exact set, decoded while it arrived, at the end."""
    write_sine(tmp_path / "set.wav", 6.0, 440)
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "judge"]) as nodes:
        (_, dj), (_, judge) = nodes
        stream_id = await dj.start_stream(str(tmp_path / "set.wav"), title="battle set")
        stream = bytes.fromhex(stream_id)
        broadcast = dj._broadcasts[stream]
        await wait_until(lambda: broadcast.signer.index >= 2, what="two signed segments before we join")

        async def no_whole_sets(*_args: object) -> None:
            raise AssertionError("the whole set was fetched: the recording should have been enough")

        monkeypatch.setattr(sharing, "fetch_from", no_whole_sets)
        await judge.keep_set(stream_id, features=True)
        await wait_until(broadcast.done.is_set, what="the DJ's set to end")
        got = await judge.set_audio(stream_id)  # as a judge at the end of the sets
        audio = got.mono
        # the feature pass run while the set arrived reads what a pass over the whole set reads
        assert got.features is not None
        assert_same_features(got.features, extract(pcm_blocks(audio, 48_000), 48_000, 1))
        own = dj.stored_set(stream_id)
        stored = judge.stored_set(stream_id)
        assert own is not None and own.complete and stored is not None and stored.complete
        assert [s.record() for s in stored.segments] == [s.record() for s in own.segments]
        assert np.array_equal(audio, decode_mono(own))  # the same samples as the DJ's own set
        assert abs(audio.size / 48_000 - 6.0) < 0.1 and abs(dominant_hz(audio) - 440) < 3
        assert not judge.sets.recording_path(stream).exists()
