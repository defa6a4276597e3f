"""STUN/TURN servers from config.toml reach both ends of a browser listener's WebRTC connection.

No public STUN server is reachable here, so a STUN responder on loopback stands in for one: it
answers every Binding request with a made-up public address, and an answer whose candidates
carry that address shows the node's peer connection used the configured server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from aioice import stun
from aiortc import RTCPeerConnection, RTCSessionDescription

from djmesh.node.config import IceServer
from djmesh.node.http import HttpServer
from djmesh.node.http.listener import rtc_configuration
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node, NodeOptions
from tests.helpers.network import LOOPBACK, make_home
from tests.helpers.sets import write_wav
from tests.node.http.chromium import chromium_page, needs_chromium

pytestmark = pytest.mark.timeout(120)

PUBLIC = ("203.0.113.7", 40_000)  # TEST-NET-3: what the responder says our public address is


class StunResponder(asyncio.DatagramProtocol):
    """Answers STUN Binding requests on loopback; counts them."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            request = stun.parse_message(data)
        except ValueError:
            return
        if request.message_method != stun.Method.BINDING or request.message_class != stun.Class.REQUEST:
            return
        self.requests.append(addr)
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = PUBLIC
        assert self.transport is not None
        self.transport.sendto(bytes(response), addr)


@contextlib.asynccontextmanager
async def stun_responder() -> AsyncIterator[tuple[StunResponder, int]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(StunResponder, local_addr=("0.0.0.0", 0))
    try:
        yield protocol, int(transport.get_extra_info("sockname")[1])
    finally:
        transport.close()


@contextlib.asynccontextmanager
async def streaming_node(tmp_path: Path, config: str) -> AsyncIterator[tuple[Node, LiveService, str]]:
    """A node whose config.toml is ``config``, live with a local stream."""
    home = make_home(tmp_path, "dj")
    home.config_file.write_text(config)
    async with (
        Node(home, options=NodeOptions(listen=[LOOPBACK], bootstrap=[])) as node,
        LiveService(node) as live,
    ):
        stream = await live.start_stream(str(write_wav(tmp_path / "set.wav", 30.0)), title="Beyond the LAN")
        yield node, live, stream


def config_with(port: int) -> str:
    return (
        '[node]\nname = "DJ Ada"\n\n[webrtc]\nice_servers = [\n'
        f'    {{ urls = ["stun:127.0.0.1:{port}"] }},\n'
        '    { urls = ["turn:turn.invalid:3478"], username = "listener", credential = "s3cret" },\n]\n'
    )


def test_the_node_peer_gets_the_configured_servers_and_never_a_default_one() -> None:
    servers = (
        IceServer(("stun:stun.example.org:3478", "stun:[2001:db8::1]")),
        IceServer(("turns:turn.example.org:443?transport=tcp",), "ada", "pw"),
    )
    configuration = rtc_configuration(servers)
    assert configuration.iceServers is not None
    assert [(s.urls, s.username, s.credential) for s in configuration.iceServers] == [
        (["stun:stun.example.org:3478"], None, None),  # an IPv6 literal is for browsers only
        (["turns:turn.example.org:443?transport=tcp"], "ada", "pw"),
    ]
    # none configured: an empty list, not None (which would make aiortc use a public server)
    assert rtc_configuration(()).iceServers == []


async def offer_from_a_client(url: str, stream: str) -> dict[str, Any]:
    client = RTCPeerConnection()
    try:
        client.addTransceiver("audio", direction="recvonly")
        await client.setLocalDescription(await client.createOffer())
        offer = {"type": "offer", "sdp": client.localDescription.sdp}
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{url}/api/listen/{stream}/offer", json=offer) as response,
        ):
            answer: dict[str, Any] = await response.json()
            assert response.status == 200, answer
        await client.setRemoteDescription(RTCSessionDescription(**answer))
        return answer
    finally:
        await client.close()


async def test_the_configured_stun_server_serves_the_page_and_the_nodes_peer(tmp_path: Path) -> None:
    async with (
        stun_responder() as (responder, port),
        streaming_node(tmp_path, config_with(port)) as (node, live, stream),
        HttpServer(node, live=live, address="127.0.0.1:0") as web,
        aiohttp.ClientSession() as session,
    ):
        assert node.config.webrtc.ice_servers[0].urls == (f"stun:127.0.0.1:{port}",)
        async with session.get(f"{web.url}/api/webrtc") as response:
            assert response.status == 200
            assert await response.json() == {
                "ice_servers": [
                    {"urls": [f"stun:127.0.0.1:{port}"]},
                    {"urls": ["turn:turn.invalid:3478"], "username": "listener", "credential": "s3cret"},
                ]
            }
        answer = await offer_from_a_client(web.url, stream)
        # the node's peer asked the configured STUN server, and offers the address it learnt
        assert responder.requests
        assert f"{PUBLIC[0]} {PUBLIC[1]} typ srflx" in answer["sdp"]
        assert web.api.listeners is not None and len(web.api.listeners) == 1


async def test_without_servers_the_node_asks_no_stun_server(tmp_path: Path) -> None:
    async with (
        stun_responder() as (responder, _port),
        streaming_node(tmp_path, '[node]\nname = "DJ Ada"\n') as (node, live, stream),
        HttpServer(node, live=live, address="127.0.0.1:0") as web,
        aiohttp.ClientSession() as session,
    ):
        async with session.get(f"{web.url}/api/webrtc") as response:
            assert await response.json() == {"ice_servers": []}
        answer = await offer_from_a_client(web.url, stream)
        assert "typ srflx" not in answer["sdp"] and "typ host" in answer["sdp"]
        assert responder.requests == []


@needs_chromium
async def test_the_listener_page_gives_its_peer_connection_the_configured_servers(tmp_path: Path) -> None:
    ice = "document.getElementById('ice')"
    async with (
        stun_responder() as (responder, port),
        streaming_node(tmp_path, config_with(port)) as (node, live, stream),
        HttpServer(node, live=live, address="127.0.0.1:0") as web,
        chromium_page(f"{web.url}/listen/{stream}") as page,
    ):
        # what the page shows is read back from its RTCPeerConnection's configuration
        urls = await page.wait_for(
            f"JSON.parse({ice}.dataset.urls).length && {ice}.dataset.urls", what="the ICE servers on the page"
        )
        assert urls == f'["stun:127.0.0.1:{port}","turn:turn.invalid:3478"]'
        assert "via STUN/TURN" in await page.evaluate(f"{ice}.textContent")
        # and the page still plays (the servers only add candidates)
        await page.wait_for(
            "Number(document.getElementById('stats').dataset.packets) >= 50", what="audio in the browser"
        )
        assert responder.requests  # the node's side, at least, asked the configured server
