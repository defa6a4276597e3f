"""`live_meters` and `live_audio`: a node's analysis and playout of a real stream, over the control API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from djmesh.node.control import ControlClient, ControlServer
from djmesh.node.errors import ControlError
from djmesh.node.live.control import LIVE_METHODS
from djmesh.node.live.feed import MAX_METER_STREAMS, audio_pcm, share_meters
from djmesh.node.live.meters import MeterBank
from djmesh.node.live.service import LiveService
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav

pytestmark = pytest.mark.timeout(120)


async def test_meters_and_audio_of_a_real_stream_reach_a_control_client(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "dj.wav", 40.0, bpm=125.0)
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj", boot) as dj,
        LiveService(dj) as dj_live,
        make_node(tmp_path, "daemon", boot) as daemon,
        LiveService(daemon),
        ControlServer(daemon, extra_methods=LIVE_METHODS),
    ):
        client = ControlClient(daemon.home, timeout_s=30)
        stream_id = await dj_live.start_stream(str(wav))

        frames: list[dict[str, Any]] = []
        meters = client.stream("live_meters", streams=[stream_id], hz=10)
        try:
            async for frame in meters:
                frames.append(frame[stream_id])
                bpm = frame[stream_id]["bpm"]
                if frame[stream_id]["streaming"] and bpm is not None and abs(bpm - 125.0) < 2.0:
                    break
        finally:
            await meters.aclose()
        # the peak (held, falling 12 dB/s): the level is the RMS of the last chunk, digital silence between clicks
        assert frames[-1]["peak_db"] > -60.0 and frames[-1]["error"] is None
        assert not frames[0]["streaming"]  # figures come at once, before the analysis has any

        chunks: list[np.ndarray] = []
        audio = client.stream("live_audio", stream_id=stream_id)
        try:
            async for item in audio:
                chunks.append(audio_pcm(item))
                if sum(c.shape[0] for c in chunks) >= 48_000:  # a second of what the daemon plays out
                    break
        finally:
            await audio.aclose()
        assert all(c.dtype == np.float32 and c.ndim == 2 for c in chunks)
        assert max(float(np.abs(c).max()) for c in chunks) > 0.3  # the clicks, not silence


async def test_feeds_refuse_bad_requests_and_share_a_lent_analysis(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "dj.wav", 40.0)
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj", boot) as dj,
        LiveService(dj) as dj_live,
        make_node(tmp_path, "daemon", boot) as daemon,
        LiveService(daemon) as daemon_live,
        ControlServer(daemon, extra_methods=LIVE_METHODS) as server,
    ):
        client = ControlClient(daemon.home, timeout_s=30)
        for params, error in [
            ({}, "streams must be a list"),
            ({"streams": []}, "streams must be a list"),
            ({"streams": ["ab" * 32] * (MAX_METER_STREAMS + 1)}, "streams must be a list"),
            ({"streams": ["not hex"]}, "is not a stream ID"),
            ({"streams": ["ab" * 32], "hz": 1000}, "hz must be"),
        ]:
            with pytest.raises(ControlError, match=error):
                await anext(client.stream("live_meters", **params))
        with pytest.raises(ControlError, match="is not a stream ID"):
            await anext(client.stream("live_audio", stream_id="12"))

        bank = MeterBank(daemon_live.pcm, lambda severity, text: None)
        share_meters(daemon, bank)
        stream_id = await dj_live.start_stream(str(wav))
        meters = client.stream("live_meters", streams=[stream_id])
        try:
            async for frame in meters:
                if frame[stream_id]["streaming"]:
                    break
        finally:
            await meters.aclose()
        assert bank.meters[stream_id].streaming  # the feed read the lent bank ...
        await wait_until(lambda: server.open_streams == 0, what="the node to see the hang-up")
        assert bank.meters[stream_id].streaming  # ... and left it running for its owner
        await bank.close()
