"""The Peers screen's traffic and discovery figures on real nodes (kernel TCP counters, DHT, bootstrap)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from djmesh.node.node import NodeOptions
from djmesh.tui.app import DjmeshApp
from djmesh.tui.node_backend import NodeBackend
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, make_node, wait_until
from tests.tui.test_app import screen_text

pytestmark = pytest.mark.timeout(90)


async def test_peers_screen_counts_bytes_on_the_wire_and_shows_bootstrap_and_dht(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, make_node(tmp_path, "follower", boot) as follower:
        backend = NodeBackend(make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=boot))
        app = DjmeshApp(backend, watch_peers=False)
        async with app.run_test(size=(160, 40)) as pilot:
            await wait_until(app.ready.is_set, what="the app's node")
            node = backend.node
            assert node is not None
            await follower.follow(node.peer_id)
            await asyncio.sleep(2)  # the mesh grafts
            await pilot.press("p")
            await wait_until(
                lambda: "bootstrap 1/1 connected" in screen_text(app), what="the bootstrap status"
            )
            await wait_until(lambda: backend.status().bytes_out_per_s is not None, what="a traffic rate")
            text = screen_text(app)
            assert "DHT routing table" in text and "Traffic   out" in text
            assert int(backend.status().discovery["dht_routing_table"]) >= 1
            before = backend.status().bytes_sent
            body = "x" * 1500
            for i in range(10):
                await node.post(f"{i} {body}")
            await wait_until(lambda: len(follower.feed()) == 10, what="the posts at the follower")
            await backend.poll()
            # Ten signed 1.5 kB posts left through our sockets: the kernel's count rose by at least that.
            assert backend.status().bytes_sent - before >= 10 * 1500
            await pilot.press("q")
            await pilot.pause()
