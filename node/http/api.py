"""The JSON API under ``/api`` (read-only, apart from a browser listener's offer).

Every error is ``{"error": "..."}`` with a 4xx status: 400 malformed input, 403 a request from
another web site, 404 unknown battle/stream/path, 409 a stream that cannot be heard now, 413 a body
too large, 415 a state change that is not JSON, 421 a host name this server does not answer to,
503 a service this node does not run or a limit (listeners, event streams) reached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from djmesh.node.battle.view import battle_json, battles_json
from djmesh.node.errors import NodeError
from djmesh.node.http.stage import Selection, SelectionError, Stage
from djmesh.node.live.errors import LiveError
from djmesh.node.live.service import StreamInfo

if TYPE_CHECKING:
    from djmesh.node.http.listener import BrowserListeners

RESULTS_SCAN = 2000
SUBSCRIBE_TIMEOUT_S = 15.0


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=lambda v: json.dumps(v, ensure_ascii=False))


def json_error(status: int, message: str) -> web.Response:
    return json_response({"error": message}, status)


def digest_of(request: web.Request, name: str) -> bytes:
    """A 64-hex-digit path part, or a 400 JSON error."""
    value = request.match_info.get(name, "")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": f"{name} must be 64 hex digits"}), content_type="application/json"
        )
    return raw


def selection_of(request: web.Request) -> Selection:
    try:
        return Selection.from_query(request.query)
    except SelectionError as exc:
        raise web.HTTPBadRequest(
            text=json.dumps({"error": str(exc)}), content_type="application/json"
        ) from None


class JsonApi:
    def __init__(self, stage: Stage, *, url: Callable[[], str]) -> None:
        self.stage = stage
        self._url = url  # the server's base URL, known once it is bound
        self.listeners: BrowserListeners | None = None
        self.max_listeners = 16

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/api", self.index),
            web.get("/api/status", self.status),
            web.get("/api/battles", self.battles),
            web.get("/api/battles/{battle_id}", self.battle),
            web.get("/api/streams", self.streams),
            web.get("/api/streams/{stream_id}", self.stream),
            web.get("/api/results", self.results),
            web.get("/api/leaderboard", self.leaderboard),
            web.get("/api/profiles/{peer_id}", self.profile),
            web.get("/api/webrtc", self.webrtc),
            web.get("/api/overlay", self.overlay),
            web.post("/api/listen/{stream_id}/offer", self.offer),
        ]

    async def index(self, request: web.Request) -> web.Response:
        return json_response(
            {
                "endpoints": [
                    "/api/status",
                    "/api/battles",
                    "/api/battles/{battle_id}",
                    "/api/streams",
                    "/api/streams/{stream_id}",
                    "/api/results",
                    "/api/leaderboard?genre=",
                    "/api/profiles/{peer_id}",
                    "/api/webrtc",
                    "/api/overlay?battle=&stream=",
                    "/api/events?battle=&stream= (text/event-stream)",
                    "POST /api/listen/{stream_id}/offer",
                ],
                "pages": ["/overlay", "/listen/{stream_id}"],
            }
        )

    async def status(self, request: web.Request) -> web.Response:
        node = self.stage.node
        return json_response(
            {
                "peer_id": node.peer_id,
                "name": node.config.name,
                "listen_addrs": node.listen_addrs,
                "peers": len(node.peers()),
                "url": self._url(),
                "live": self.stage.live is not None,
                "battles": self.stage.battles is not None,
                "browser_listeners": len(self.listeners) if self.listeners is not None else 0,
            }
        )

    async def battles(self, request: web.Request) -> web.Response:
        service = self.stage.battles
        return json_response(battles_json(service) if service is not None else [])

    async def battle(self, request: web.Request) -> web.Response:
        battle_id = digest_of(request, "battle_id")
        service = self.stage.battles
        state = service.battles.get(battle_id) if service is not None else None
        if service is None or state is None:
            return json_error(404, f"unknown battle {battle_id.hex()}")
        return json_response(battle_json(service, state))

    async def streams(self, request: web.Request) -> web.Response:
        return json_response(self.stage.stream_list())

    async def stream(self, request: web.Request) -> web.Response:
        stream_id = digest_of(request, "stream_id").hex()
        found = next((s for s in self.stage.stream_list() if s["stream_id"] == stream_id), None)
        if found is None:
            return json_error(404, f"unknown stream {stream_id}")
        return json_response(found)

    def _verified_results(self) -> list[dict[str, Any]]:
        """Verified result bundles in the store, one per battle, newest first (the node caches checks)."""
        node = self.stage.node
        out: dict[str, dict[str, Any]] = {}
        for _envelope, result in node.results.in_store(node.store, limit=RESULTS_SCAN):
            battle_id = result.battle_id.hex()
            if battle_id not in out:
                out[battle_id] = {
                    **result.summary(),
                    "names": {side: node.names.name(key) for side, key in result.djs.items()},
                    "title": result.announce.title,
                    "published_at": result.published_at_ms,
                }
        return sorted(out.values(), key=lambda r: -int(r["published_at"]))

    async def results(self, request: web.Request) -> web.Response:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return json_error(400, "limit must be a whole number")
        if not 1 <= limit <= 500:
            return json_error(400, "limit must be 1..500")
        return json_response(self._verified_results()[:limit])

    async def leaderboard(self, request: web.Request) -> web.Response:
        return json_response(self.stage.node.leaderboard(request.query.get("genre") or None))

    async def profile(self, request: web.Request) -> web.Response:
        """A peer's newest profile (or null), display name and record."""
        node, peer_id = self.stage.node, request.match_info.get("peer_id", "")
        try:
            record = node.record(peer_id)
            found = node.profile(peer_id)
        except NodeError as exc:
            return json_error(400, str(exc))
        profile, updated = found if found is not None else (None, None)
        return json_response(
            {
                "peer_id": peer_id,
                "display_name": node.names.name(peer_id),
                "name": profile.name if profile else None,
                "bio": profile.bio if profile else None,
                "links": list(profile.links) if profile else [],
                "updated_at": updated,
                "record": record,
            }
        )

    async def webrtc(self, request: web.Request) -> web.Response:
        """The ICE (STUN/TURN) servers a listener page gives its RTCPeerConnection (config.toml [webrtc])."""
        return json_response(self.stage.node.config.webrtc.to_json())

    async def overlay(self, request: web.Request) -> web.Response:
        return json_response(self.stage.snapshot(selection_of(request)))

    async def offer(self, request: web.Request) -> web.Response:
        """Every check (the body, the listener limit) comes before the first side effect: a refused
        offer subscribes to nothing, relays nothing and opens no payment channel."""
        from djmesh.node.http.listener import BrowserListeners, ListenerError, offer_sdp

        stream = digest_of(request, "stream_id")
        live = self.stage.live
        if live is None:
            return json_error(503, "this node runs no live service")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            return json_error(400, "the body must be JSON")
        if self.listeners is None:
            self.listeners = BrowserListeners(
                max_listeners=self.max_listeners, ice_servers=self.stage.node.config.webrtc.ice_servers
            )
        try:
            offer_sdp(body)
            self.listeners.check_room()
        except ListenerError as exc:
            return json_error(exc.status, str(exc))
        info = self._stream_info(stream.hex())
        if info is None:
            await live.locate(stream)  # a stream announced before we joined: ask the peers once
            info = self._stream_info(stream.hex())
        if info is None:
            return json_error(404, f"unknown stream {stream.hex()}: no peer announced it")
        if not info.live:
            return json_error(409, f"stream {stream.hex()} has ended")
        try:
            source = await asyncio.wait_for(live.subscribe(stream), SUBSCRIBE_TIMEOUT_S)
        except LiveError as exc:
            return json_error(409, str(exc))
        except (TimeoutError, NodeError) as exc:
            return json_error(409, f"cannot reach stream {stream.hex()}: {exc or 'timed out'}")
        try:
            answer = await self.listeners.answer(source, body)
        except ListenerError as exc:
            return json_error(exc.status, str(exc))
        self.stage.watch(stream.hex(), info.title)
        return json_response(answer)

    def _stream_info(self, stream_id: str) -> StreamInfo | None:
        live = self.stage.live
        return next((s for s in live.streams() if s.stream_id == stream_id), None) if live else None

    async def close(self) -> None:
        if self.listeners is not None:
            await self.listeners.close()
