"""Volume and mute act on the samples sent to the sink: unit level, and on a real stream."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from djmesh.node.live.device_queue import DeviceQueue
from djmesh.node.live.service import LiveService
from djmesh.node.node import NodeOptions
from djmesh.tui.node_backend import NodeBackend
from djmesh.tui.playback import Volume, VolumeSink
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, make_node, wait_until
from tests.helpers.sets import write_wav


class RecordingSink:
    """Stands in for the sound card (the one boundary that does not exist here): keeps what it is given."""

    device_queue: DeviceQueue | None = None

    def __init__(self, channels: int) -> None:
        self.channels = channels
        self.chunks: list[np.ndarray] = []
        self.closed = False

    def play(self, pcm: np.ndarray) -> None:
        self.chunks.append(pcm.copy())

    def close(self) -> None:
        self.closed = True


def test_gain_scales_mutes_and_follows_changes_between_chunks() -> None:
    volume = Volume(level=0.5)
    opened: list[RecordingSink] = []
    sink = VolumeSink(volume, lambda channels: opened.append(RecordingSink(channels)) or opened[-1])
    chunk = np.full((960, 2), 0.8, np.float32)
    sink.play(chunk)
    assert opened[0].channels == 2
    np.testing.assert_allclose(opened[0].chunks[0], 0.4)
    volume.toggle_mute()
    sink.play(chunk)
    assert not opened[0].chunks[1].any() and sink.last_gain == 0.0
    volume.toggle_mute()
    volume.louder()
    volume.louder()
    sink.play(chunk)
    np.testing.assert_allclose(opened[0].chunks[2], 0.8 * 0.7, rtol=1e-6)
    for _ in range(20):
        volume.louder()
    sink.play(chunk)
    np.testing.assert_array_equal(opened[0].chunks[3], chunk)  # full volume: the samples untouched
    assert chunk[0, 0] == np.float32(0.8)  # the caller's buffer is never scaled in place
    assert sink.samples == 4 * 960 and sink.device  # anything but the null sink counts as a device
    sink.close()
    assert opened[0].closed


@pytest.mark.timeout(90)
async def test_hearing_a_real_stream_plays_it_at_the_chosen_volume(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "dj.wav", 30.0)
    async with bootstrap_server() as boot, make_node(tmp_path, "dj", boot) as dj, LiveService(dj) as dj_live:
        backend = NodeBackend(make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=boot))
        played: list[RecordingSink] = []
        backend.open_sink = lambda channels: played.append(RecordingSink(channels)) or played[-1]
        await backend.start()
        try:
            stream_id = await dj_live.start_stream(str(wav))
            await backend.hear(stream_id, "DJ A")
            assert backend.hearing == "DJ A"
            # the first chunks may be concealment (a busy machine's late frames): wait for the audio itself
            await wait_until(
                lambda: bool(played and any(float(np.abs(c).max()) > 0.3 for c in played[0].chunks)),
                what="loud audio at the sink",
            )
            loud = max(float(np.abs(c).max()) for c in played[0].chunks)
            backend.volume.toggle_mute()
            muted_from = len(played[0].chunks)
            await wait_until(lambda: len(played[0].chunks) > muted_from + 10, what="more audio")
            assert not any(c.any() for c in played[0].chunks[muted_from + 1 :])
            backend.volume.toggle_mute()
            backend.volume.level = 0.25
            quiet_from = len(played[0].chunks)
            await wait_until(lambda: len(played[0].chunks) > quiet_from + 50, what="more audio")
            quiet = max(float(np.abs(c).max()) for c in played[0].chunks[quiet_from + 1 :])
            assert abs(quiet / loud - 0.25 / 0.8) < 0.03  # loud was played at the default 80 %
            await backend.hear(None)
            assert backend.hearing is None and played[0].closed
        finally:
            await backend.stop()
