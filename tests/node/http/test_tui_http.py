"""`djmesh tui --http`: the in-process node serves the web pages beside the screens, with their meters."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from djmesh.node.node import NodeOptions
from djmesh.tui.cli import served_node_backend
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home


async def test_the_tuis_in_process_node_serves_http_and_stops_it(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, aiohttp.ClientSession() as session:
        backend = served_node_backend("127.0.0.1:0")(
            make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=boot)
        )
        alerts: list[str] = []
        backend.alert = lambda severity, text: alerts.append(text)
        await backend.start()
        try:
            assert backend.http is not None and backend.node is not None
            assert backend.http.stage.meters is backend.meters  # one analysis for the screens and the pages
            url = backend.http.url
            assert f"Overlay on {url}/overlay" in alerts
            async with session.get(f"{url}/api/status") as response:
                assert (await response.json())["peer_id"] == backend.node.peer_id
        finally:
            await backend.stop()
        with pytest.raises(aiohttp.ClientConnectionError):
            async with session.get(f"{url}/api/status"):
                pass
