"""``HttpServer``: the node's local web pages and JSON API (aiohttp), started beside a running node.

``async with HttpServer(node, live=live, battles=battles, address="127.0.0.1:8080") as web:``
serves until the block ends; ``web.url`` is the bound base URL (port 0 picks a free one).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from aiohttp import web
from aiohttp.typedefs import Handler

from djmesh.node.battle.service import BattleService
from djmesh.node.clock import monotonic, wait_set
from djmesh.node.errors import NodeError
from djmesh.node.http.address import HttpAddressError, parse_http_address, url_host
from djmesh.node.http.api import JsonApi, digest_of, json_error, selection_of
from djmesh.node.http.guard import RequestGuard
from djmesh.node.http.stage import Selection, Stage
from djmesh.node.live.meters import MeterBank
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
PUSH_INTERVAL_S = 0.25  # live figures reach pages at most 4 times a second, however often they change
KEEPALIVE_S = 15.0
MAX_BODY_BYTES = 64 * 1024
MAX_EVENT_STREAMS = 32  # open /api/events connections (each holds a socket and a task); more get 503
SHUTDOWN_TIMEOUT_S = 2.0


class HttpError(NodeError):
    """The server could not start (bad address, port in use)."""


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """API errors are JSON and never a crash; pages keep plain-text errors."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as exc:
        if not request.path.startswith("/api") or exc.content_type == "application/json" or exc.status < 400:
            raise
        return json_error(exc.status, exc.reason)
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("http: %s %s failed", request.method, request.path)
        if request.path.startswith("/api"):
            return json_error(500, "internal error (the node's log has the details)")
        raise


class HttpServer:
    def __init__(
        self,
        node: Node,
        *,
        live: LiveService | None = None,
        battles: BattleService | None = None,
        address: str = "127.0.0.1:0",
        meters: MeterBank | None = None,
        max_listeners: int = 16,
        hosts: Sequence[str] = (),
        token: str | None = None,
        max_event_streams: int | None = None,
    ) -> None:
        """``hosts``: names besides localhost and IP addresses this server answers to (a LAN name);
        ``token``: the control token, which lets a local tool skip the origin rules (``guard``)."""
        try:
            self.host, self.port = parse_http_address(address)
        except HttpAddressError as exc:
            raise HttpError(f"--http {exc}") from None
        self.address = address
        self.url = ""
        self.stage = Stage(node, live=live, battles=battles, meters=meters)
        self.api = JsonApi(self.stage, url=lambda: self.url)
        self.api.max_listeners = max_listeners
        self.guard = RequestGuard(bound_host=self.host, names=hosts or node.config.http_hosts, token=token)
        self.max_event_streams = max_event_streams or node.config.http_max_event_streams or MAX_EVENT_STREAMS
        self.event_streams = 0
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._app = web.Application(
            middlewares=[self.guard.middleware, _json_errors], client_max_size=MAX_BODY_BYTES
        )
        self._app.add_routes(
            [
                web.get("/", self._page("index.html")),
                web.get("/overlay", self._page("overlay.html")),
                web.get("/listen/{stream_id}", self._listen_page),
                web.get("/api/events", self._events),
                *self.api.routes(),
                web.static("/static", STATIC_DIR),
            ]
        )

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> HttpServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        runner = web.AppRunner(self._app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as exc:
            await runner.cleanup()
            raise HttpError(f"--http {self.address}: cannot listen there ({exc.strerror or exc})") from None
        self._runner = runner
        bound_port = int(runner.addresses[0][1])
        self.url = f"http://{url_host(self.host)}:{bound_port}"
        log.info("http: serving on %s", self.url)

    async def stop(self) -> None:
        self._stopping.set()
        await self.api.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.stage.close()

    # -- pages ---------------------------------------------------------------------------------

    def _page(self, name: str) -> Handler:
        async def serve(request: web.Request) -> web.StreamResponse:
            return web.FileResponse(STATIC_DIR / name, headers={"Cache-Control": "no-cache"})

        return serve

    async def _listen_page(self, request: web.Request) -> web.StreamResponse:
        try:
            digest_of(request, "stream_id")
        except web.HTTPBadRequest:
            raise web.HTTPBadRequest(text="a stream ID is 64 hex digits") from None
        return web.FileResponse(STATIC_DIR / "listen.html", headers={"Cache-Control": "no-cache"})

    # -- events --------------------------------------------------------------------------------

    async def _events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: the page's snapshot whenever it changed, at most every PUSH_INTERVAL_S."""
        selection = selection_of(request)
        if self.event_streams >= self.max_event_streams:
            return json_error(503, f"this node already sends events to {self.max_event_streams} pages")
        self.event_streams += 1
        try:
            return await self._send_events(request, selection)
        finally:
            self.event_streams -= 1

    async def _send_events(self, request: web.Request, selection: Selection) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await response.prepare(request)
        last, last_sent = "", monotonic()
        with contextlib.suppress(ConnectionResetError, ConnectionError):
            await response.write(b"retry: 2000\n\n")
            while not self._stopping.is_set():
                data = json.dumps(self.stage.snapshot(selection), ensure_ascii=False, separators=(",", ":"))
                if data != last:
                    await response.write(f"event: overlay\ndata: {data}\n\n".encode())
                    last, last_sent = data, monotonic()
                elif monotonic() - last_sent > KEEPALIVE_S:
                    await response.write(b": keepalive\n\n")
                    last_sent = monotonic()
                await wait_set(self._stopping, PUSH_INTERVAL_S)
        return response


def optional_http_server(
    address: str | None,
    node: Node,
    *,
    live: LiveService | None = None,
    battles: BattleService | None = None,
    token: str | None = None,
) -> contextlib.AbstractAsyncContextManager[HttpServer | None]:
    """``HttpServer`` when ``--http`` was given, else a context that yields None."""
    if address is None:
        return contextlib.nullcontext(None)
    return HttpServer(node, live=live, battles=battles, address=address, token=token)
