"""The browser listener: headless Chromium plays a live stream over WebRTC straight from a node."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.http import HttpServer
from tests.helpers.network import bootstrap_server, wait_until
from tests.helpers.sets import write_wav
from tests.node.http.chromium import chromium_page, needs_chromium
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(90)


@needs_chromium
async def test_a_browser_plays_a_relayed_live_stream_over_webrtc(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "set.wav", 30.0)
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "viewer"]) as nodes:
        (_dj, dj_live), (viewer, viewer_live) = nodes
        stream = await dj_live.start_stream(str(wav), title="Roller at 125")
        await wait_until(
            lambda: any(s.stream_id == stream for s in viewer_live.streams()), what="the stream at the viewer"
        )
        async with (
            HttpServer(viewer, live=viewer_live, address="127.0.0.1:0") as web,
            chromium_page(f"{web.url}/listen/{stream}") as page,
        ):
            stats = "document.getElementById('stats').dataset"
            await page.wait_for(
                f"Number({stats}.packets) >= 50", what="50 audio packets (1 s) in the browser"
            )
            # The forwarded Opus packets decode in the browser into real sound, not concealment.
            await page.wait_for(f"Number({stats}.energy) > 0", what="decoded audio energy")
            samples = int(await page.evaluate(f"{stats}.samples"))
            concealed = int(await page.evaluate(f"{stats}.concealed"))
            assert samples > 0 and concealed < samples / 2
            assert await page.evaluate("document.getElementById('status').dataset.state") == "connected"
            await page.wait_for(
                "document.getElementById('title').textContent === 'Roller at 125'", what="the stream's title"
            )
            assert web.api.listeners is not None and len(web.api.listeners) == 1
        assert len(web.api.listeners) == 0  # closed with the server
