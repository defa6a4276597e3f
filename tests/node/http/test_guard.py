"""Web pages on other sites cannot use the node's web server: host names, origins, limits.

The browser half (a real page on another origin in headless Chromium) is at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from djmesh.node.http import HttpServer
from djmesh.node.http.guard import TOKEN_HEADER, RequestGuard, host_name
from djmesh.node.live.service import LiveService
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav
from tests.node.http.chromium import chromium_page, needs_chromium
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(90)

OFFER = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}


class Spy:
    """Counts calls to a LiveService's side-effecting methods (and still runs them)."""

    def __init__(self, live: LiveService) -> None:
        self.calls: list[str] = []
        for name in ("locate", "subscribe"):
            setattr(live, name, self._wrap(name, getattr(live, name)))

    def _wrap(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        async def spied(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return await method(*args, **kwargs)

        return spied


def test_host_names_and_ip_literals() -> None:
    guard = RequestGuard(bound_host="0.0.0.0", names=["DJBox.local"])
    assert host_name("[::1]:8080") == "::1" and host_name("LocalHost:80") == "localhost"
    for good in ("127.0.0.1:8080", "localhost", "[::1]:1", "192.168.1.20:8080", "djbox.local:8080"):
        assert guard.allows_host(good), good
    for bad in ("evil.example", "evil.example:8080", "127.0.0.1.evil.example", "localhost.evil", "", None):
        assert not guard.allows_host(bad), bad


async def test_rebound_host_names_cross_origin_posts_and_extra_event_streams_are_refused(
    tmp_path: Path,
) -> None:
    wav = write_wav(tmp_path / "set.wav", 20.0)
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "viewer"]) as nodes:
        (_dj, dj_live), (viewer, viewer_live) = nodes
        stream = await dj_live.start_stream(str(wav), title="Roller")
        await wait_until(
            lambda: any(s.stream_id == stream for s in viewer_live.streams()), what="the stream at the viewer"
        )
        spy = Spy(viewer_live)
        async with (
            HttpServer(
                viewer, live=viewer_live, address="127.0.0.1:0", token="t0ken", max_event_streams=2
            ) as web_server,
            aiohttp.ClientSession() as session,
        ):
            url = web_server.url
            port = url.rsplit(":", 1)[1]
            # DNS rebinding: evil.example resolved to 127.0.0.1 gets nothing, not the peer ID.
            async with session.get(f"{url}/api/status", headers={"Host": "evil.example"}) as response:
                assert response.status == 421 and viewer.peer_id not in await response.text()
            async with session.get(f"{url}/overlay", headers={"Host": f"evil.example:{port}"}) as response:
                assert response.status == 421
            for host in (f"localhost:{port}", f"127.0.0.1:{port}"):
                async with session.get(f"{url}/api/status", headers={"Host": host}) as response:
                    assert response.status == 200 and (await response.json())["peer_id"] == viewer.peer_id
            offer_url = f"{url}/api/listen/{stream}/offer"
            attacks: list[dict[str, str]] = [
                {"Content-Type": "text/plain"},  # a "simple" request: no preflight, so it must be refused
                {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://127.0.0.1:9"},
                {"Content-Type": "application/json", "Origin": "http://127.0.0.1:9"},
                {"Content-Type": "application/json", "Origin": "null"},
                {"Content-Type": "application/json", "Sec-Fetch-Site": "same-site"},
            ]
            for headers in attacks:
                async with session.post(
                    offer_url, data=b'{"type":"offer","sdp":"m=audio"}', headers=headers
                ) as r:
                    assert r.status in (403, 415), headers
                    assert "error" in await r.json()
            # cross-site reads with side effects (joining a battle room, analysing a stream) too
            overlay = f"{url}/api/overlay?stream={stream}"
            async with session.get(overlay, headers={"Sec-Fetch-Site": "cross-site"}) as response:
                assert response.status == 403
            async with session.get(f"{url}/api/events", headers={"Origin": "http://evil.example"}) as r:
                assert r.status == 403
            assert spy.calls == [] and viewer_live.hub_for(bytes.fromhex(stream)) is None
            assert web_server.stage.meter(stream) is None
            # Limits come before side effects: a well-formed JSON offer over the listener limit subscribes
            # to nothing either.
            web_server.api.max_listeners = 0
            async with session.post(offer_url, json=OFFER) as response:
                assert response.status == 503
            async with session.post(offer_url, json={"type": "offer", "sdp": "v=0"}) as response:
                assert response.status == 400  # no audio section
            assert spy.calls == [] and viewer_live.hub_for(bytes.fromhex(stream)) is None
            # The control token lets a local tool past the origin rules (not the host rule).
            async with session.post(
                offer_url, data=b"{}", headers={"Content-Type": "text/plain", TOKEN_HEADER: "t0ken"}
            ) as response:
                assert response.status == 400  # reached the handler: the body is not an offer
            # Event streams are capped; a closed one frees its place.
            async with contextlib.AsyncExitStack() as stack:
                for _ in range(2):
                    response = await stack.enter_async_context(session.get(f"{url}/api/events"))
                    assert response.status == 200
                    await response.content.readline()
                async with session.get(f"{url}/api/events") as response:
                    assert response.status == 503
            await wait_until(lambda: web_server.event_streams == 0, what="the event streams closed")
            async with session.get(f"{url}/api/events") as response:
                assert response.status == 200


@contextlib.asynccontextmanager
async def attacker_site(html: str) -> AsyncIterator[str]:
    """A web server on another local port serving one hostile page; yields its URL."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.add_routes([web.get("/", page)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()


HOSTILE_PAGE = """<!doctype html><html><body><iframe name="sink"></iframe><script>
window.attempts = [];
async function attack(node, stream) {
  const offer = JSON.stringify({type: "offer", sdp: "v=0\\r\\nm=audio 9 UDP/TLS/RTP/SAVPF 111\\r\\n"});
  const url = `${node}/api/listen/${stream}/offer`;
  const tries = [
    fetch(url, {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"}, body: offer}),
    fetch(url, {method: "POST", mode: "no-cors", body: new Blob([offer])}),
    fetch(url, {method: "POST", headers: {"Content-Type": "application/json"}, body: offer}),
    fetch(`${node}/api/overlay?stream=${stream}`, {mode: "no-cors"}),
    fetch(`${node}/api/status`).then(r => r.text()),
  ];
  for (const t of tries) {
    try { window.attempts.push(String(await t)); } catch (e) { window.attempts.push("error: " + e); }
  }
  const form = document.createElement("form");
  form.method = "POST"; form.action = url; form.enctype = "text/plain"; form.target = "sink";
  const field = document.createElement("input");
  field.name = '{"type":"offer","sdp":"m=audio","x":"'; field.value = '"}';
  form.appendChild(field); document.body.appendChild(form); form.submit();
  const events = new EventSource(`${node}/api/events?stream=${stream}`);
  await new Promise(done => { events.onerror = done; events.onmessage = done; setTimeout(done, 3000); });
  events.close();
  window.attempts.push("done");
  return window.attempts.length;
}
</script></body></html>"""


@needs_chromium
async def test_a_page_on_another_origin_cannot_make_the_node_do_anything(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "set.wav", 20.0)
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj", boot) as node,
        LiveService(node) as live,
    ):
        stream = await live.start_stream(str(wav), title="Roller")
        spy = Spy(live)
        async with (
            HttpServer(node, live=live, address="127.0.0.1:0") as web_server,
            attacker_site(HOSTILE_PAGE) as site,
            chromium_page(site) as page,
        ):
            await page.wait_for("typeof attack === 'function'", what="the hostile page")
            await page.evaluate(f"attack({web_server.url!r}, {stream!r})")
            attempts = await page.evaluate("window.attempts")
            assert attempts[-1] == "done"
            assert not any(node.peer_id in str(a) for a in attempts)  # nothing readable came back
            await asyncio.sleep(0.5)  # the form post is navigated into the iframe; let it land
            # None reached a handler, though they reached the server (the guard counted them).
            assert spy.calls == []
            assert web_server.guard.refused >= 5
            assert web_server.api.listeners is None or len(web_server.api.listeners) == 0
            assert web_server.stage.meter(stream) is None and web_server.event_streams == 0
