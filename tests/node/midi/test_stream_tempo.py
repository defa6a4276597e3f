"""The declared tempo and live cues travel in the stream's signed metadata to listeners."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.live.errors import LiveError
from djmesh.protocol.envelope import decode_envelope, sign
from djmesh.protocol.errors import InvalidPayloadError
from djmesh.protocol.stream import STREAMS_TOPIC, StreamAnnounce, StreamCue, StreamTempo
from tests.helpers.network import bootstrap_server, wait_until
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(120)


def test_stream_tempo_round_trips_and_is_strict(signing_key: object) -> None:
    tempo = StreamTempo(bytes(32), millibpm=125_000, running=True, beat_us=1_700_000_000_000_000)
    envelope = sign(tempo, signing_key, created_at_ms=1_700_000_000_000)  # type: ignore[arg-type]
    back = decode_envelope(envelope.wire, now_ms=None).message
    assert back == tempo and back.bpm == 125.0
    for bad in ({"millibpm": 5}, {"running": 1}, {"source": "psychic"}, {"beat_us": -1}):
        with pytest.raises(InvalidPayloadError):
            StreamTempo.parse({**tempo.to_payload(), **bad})  # type: ignore[dict-item]
    cue = StreamCue(bytes(32), at_us=5, title="Second track")
    assert StreamCue.parse(dict(cue.to_payload().items())) == cue


async def test_a_listener_sees_the_declared_tempo_and_cues(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "fan"]) as nodes:
        (dj, dj_live), (fan, fan_live) = nodes
        with pytest.raises(LiveError, match="not streaming"):
            await dj_live.declare_tempo(125.0, stream_id="ab" * 32)
        assert await dj_live.declare_tempo(125.0) == []  # nothing live: nothing to declare into
        # what travels is under test here, not a start-up race (a message sent before the mesh formed:
        # recovered by resend and reconciliation, tests/node/sim/test_p2p.py)
        await wait_until(
            lambda: (
                fan.peer_id in dj.host.mesh_peers(STREAMS_TOPIC)
                and dj.peer_id in fan.host.mesh_peers(STREAMS_TOPIC)
            ),
            what="the streams mesh between the DJ and the fan",
        )
        stream_id = await dj_live.start_stream("lavfi:sine=frequency=440", title="warm-up")
        sent = await dj_live.declare_tempo(124.96, running=True, beat_us=1_700_000_000_000_000)
        assert sent == [stream_id]
        assert await dj_live.declare_tempo(124.97) == []  # unchanged within a second: paced
        assert await dj_live.mark_cue("Second track") == [stream_id]

        def fan_info() -> object:
            return next((s for s in fan_live.streams() if s.stream_id == stream_id), None)

        await wait_until(
            lambda: getattr(fan_info(), "declared_bpm", None) is not None and bool(fan_live.cues(stream_id)),
            what="the fan to learn the stream's tempo and cue",
        )
        info = fan_info()
        assert info is not None and info.declared_bpm == 124.96  # type: ignore[attr-defined]
        declared = fan_live.declared_tempo(stream_id)
        assert declared is not None and declared.running and declared.beat_us == 1_700_000_000_000_000
        assert [c.title for c in fan_live.cues(stream_id)] == ["Second track"]
        assert info.to_json()["declared_bpm"] == 124.96  # type: ignore[attr-defined]

        # Only the stream's DJ can declare its tempo: the fan's forged declaration is ignored.
        forged = await fan.publish(StreamTempo(bytes.fromhex(stream_id), millibpm=90_000, running=True))
        await wait_until(
            lambda: dj.store.get(forged.content_id) is not None, what="the forged tempo to arrive"
        )
        assert dj_live.declared_tempo(stream_id).bpm == 124.96  # type: ignore[union-attr]
        await dj_live.stop_stream(stream_id)


async def test_a_tempo_and_cue_stored_before_their_announcement_count_once_it_comes(
    tmp_path: Path, signing_key: object, other_key: object
) -> None:
    """Gossip does not keep order: a fan that got the tempo first ignored it for good (a start-up flake)."""
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["fan"]) as nodes:
        (fan, fan_live) = nodes[0]
        now = 1_700_000_000_000
        announce = sign(StreamAnnounce(title="late", nonce=b"late0001"), signing_key, created_at_ms=now)  # type: ignore[arg-type]
        stream = announce.content_id
        tempo = sign(StreamTempo(stream, millibpm=126_000, running=True), signing_key, created_at_ms=now)  # type: ignore[arg-type]
        cue = sign(StreamCue(stream, at_us=5, title="Intro"), signing_key, created_at_ms=now + 1)  # type: ignore[arg-type]
        forged = sign(StreamTempo(stream, millibpm=90_000, running=True), other_key, created_at_ms=now + 2)  # type: ignore[arg-type]
        other_stream = sign(
            StreamCue(bytes(32), at_us=1, title="elsewhere"), signing_key, created_at_ms=now + 3
        )  # type: ignore[arg-type]
        for early in (tempo, cue, forged, other_stream):  # as MessageStored delivers stored gossip
            fan.store.add(early)
            fan_live._learn(early)
        assert fan_live.declared_tempo(stream) is None  # no announcement yet: nothing to attach them to

        fan.store.add(announce)
        fan_live._learn(announce)
        declared = fan_live.declared_tempo(stream)
        assert declared is not None and declared.bpm == 126.0  # the DJ's, not the forger's
        assert [c.title for c in fan_live.cues(stream)] == ["Intro"]
