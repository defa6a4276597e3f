"""The local control API: how the CLI (and any local tool) drives a running node.

One JSON object per line over TCP on 127.0.0.1. Every request carries the token from
``control.token`` in the node home (mode 0600, like bitcoind's cookie file), so only
someone who can read the home can drive the node. ``control.json`` says where to connect.

A method answers ``{"ok": true, "result": ...}``, or ``{"ok": false, "error": ...}``. A streaming
method (its handler returns an async iterator, e.g. ``live_meters``) answers one ``{"ok": true,
"item": ...}`` line per item on the same connection, then ``{"ok": true, "end": true}`` (or an error
line); the client hangs up to stop it (``ControlClient.stream``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from djmesh.judge.pin import JUDGE_SHA256
from djmesh.node import control_params as req
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError, NodeError, NodeNotRunningError
from djmesh.node.home import NodeHome
from djmesh.node.json_view import envelope_json, plain
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import Profile

if TYPE_CHECKING:  # the client side (every CLI command) must not import the networking stack
    from djmesh.node.node import Node

log = logging.getLogger(__name__)

MAX_REQUEST_BYTES = 64 * 1024
MAX_STREAMING = 16  # streaming answers open at once (each holds a connection and a task)
MAX_LIST_ITEMS = 16  # list parameters (links, mentions, wallets); the message schemas allow fewer


async def _id(node: Node, params: dict[str, Any]) -> Any:
    return {
        "peer_id": node.peer_id,
        "public_key": node.public_key.hex(),
        "name": node.config.name,
        "listen_addrs": node.listen_addrs,
    }


async def _post(node: Node, params: dict[str, Any]) -> Any:
    text = req.text(params, "text")
    if params.get("crew"):
        envelope = await node.crew_post(req.hex32(params, "crew"), text)
    else:
        reply_to = req.hex32(params, "reply_to") if params.get("reply_to") else None
        links = req.text_list(params, "links", max_items=MAX_LIST_ITEMS) or ()
        mentions = req.text_list(params, "mentions", max_items=MAX_LIST_ITEMS) or ()
        envelope = await node.post(text, links=links, reply_to=reply_to, mentions=mentions)
    return envelope_json(envelope)


async def _follow(node: Node, params: dict[str, Any]) -> Any:
    return envelope_json(await node.follow(req.text(params, "peer_id")))


async def _unfollow(node: Node, params: dict[str, Any]) -> Any:
    return envelope_json(await node.unfollow(req.text(params, "peer_id")))


async def _feed(node: Node, params: dict[str, Any]) -> Any:
    before = req.optional_integer(params, "before", 0, 2**53)
    return [
        {**asdict(item), "author_name": node.names.name(item.author)}
        for item in node.feed(limit=req.integer(params, "limit", 50, 1, 1000), before_ms=before)
    ]


async def _peers(node: Node, params: dict[str, Any]) -> Any:
    return [{**asdict(peer), "name": node.names.name(peer.peer_id)} for peer in node.peers()]


async def _profile_show(node: Node, params: dict[str, Any]) -> Any:
    """The newest profile plus ``peer_id``, ``display_name`` and ``record``; null for a peer with
    neither a profile nor a battle."""
    peer_id = req.text_or_empty(params, "peer_id") or node.peer_id
    found = node.profile(peer_id)
    record = node.record(peer_id)
    if found is None and not record["battles"]:
        return None
    profile, updated = found if found is not None else (Profile(name=""), None)
    return {
        **plain(profile.to_payload()),
        "updated_at": updated,
        "peer_id": peer_id,
        "display_name": node.names.name(peer_id),
        "record": record,
    }


async def _leaderboard(node: Node, params: dict[str, Any]) -> Any:
    return node.leaderboard(req.optional_text(params, "genre"))


async def _profile_set(node: Node, params: dict[str, Any]) -> Any:
    current = node.profile()
    base = current[0] if current else Profile(name=node.config.name or node.peer_id[-8:])
    bio = params.get("bio")
    if bio is not None and not isinstance(bio, str):
        raise ControlError("bio must be a string")
    name = req.text_or_empty(params, "name")
    links = req.text_list(params, "links", max_items=MAX_LIST_ITEMS)
    wallets = req.text_map(params, "wallets", max_items=MAX_LIST_ITEMS)
    profile = Profile(
        name=name or base.name,
        bio=bio if bio is not None else base.bio,
        avatar=base.avatar,
        links=links if links is not None else base.links,
        wallets=wallets if wallets is not None else base.wallets,
    )
    return envelope_json(await node.set_profile(profile))


async def _crew_create(node: Node, params: dict[str, Any]) -> Any:
    bio = req.text_or_empty(params, "bio")
    return {"crew_id": (await node.create_crew(req.text(params, "name"), bio)).hex()}


async def _crew_invite(node: Node, params: dict[str, Any]) -> Any:
    await node.invite(req.hex32(params, "crew_id"), req.text(params, "peer_id"))
    return {"ok": True}


async def _crew_join(node: Node, params: dict[str, Any]) -> Any:
    crew_id = req.hex32(params, "crew_id")
    await node.join_crew(crew_id)
    state = node.view.crew(crew_id)
    return {
        "crew_id": crew_id.hex(),
        "name": state.name if state else None,
        "member": bool(state and state.is_member(node.public_key)),
        "has_key": bool(node.store.crew_keys(crew_id)),
    }


async def _crew_feed(node: Node, params: dict[str, Any]) -> Any:
    return [
        asdict(item)
        for item in node.crew_feed(
            req.hex32(params, "crew_id"), limit=req.integer(params, "limit", 50, 1, 1000)
        )
    ]


async def _crews(node: Node, params: dict[str, Any]) -> Any:
    return [
        {
            "crew_id": state.crew_id.hex(),
            "name": state.name,
            "admins": sorted(_peer_ids(state.admins)),
            "members": sorted(_peer_ids(state.members)),
        }
        for state in node.view.crews()
    ]


def _peer_ids(keys: set[bytes]) -> list[str]:
    return [peer_id_from_public_key(key) for key in keys]


async def _chat(node: Node, params: dict[str, Any]) -> Any:
    room = req.text(params, "room")
    if params.get("text"):
        return envelope_json(await node.chat(room, req.text(params, "text")))
    await node.join_room(room)
    return [
        {**envelope_json(e), "author_name": node.names.name(e.author)}
        for e in node.chat_history(room, limit=req.integer(params, "limit", 50, 1, 1000))
    ]


async def _react(node: Node, params: dict[str, Any]) -> Any:
    return envelope_json(await node.react(req.hex32(params, "id"), req.text(params, "emoji")))


async def _notifications(node: Node, params: dict[str, Any]) -> Any:
    notices = node.notifications(limit=req.integer(params, "limit", 50, 1, 1000))
    return [notice.as_json(node.names, node.public_key) for notice in notices]


async def _flag(node: Node, params: dict[str, Any]) -> Any:
    node.set_flag(req.text(params, "peer_id"), req.text(params, "flag"), req.boolean(params, "on", True))
    return {"ok": True}


async def _sync(node: Node, params: dict[str, Any]) -> Any:
    return {"stored": await node.sync()}


async def _connect(node: Node, params: dict[str, Any]) -> Any:
    return {"peer_id": await node.connect(req.text(params, "multiaddr"))}


async def _status(node: Node, params: dict[str, Any]) -> Any:
    return {
        "peer_id": node.peer_id,
        "judge": JUDGE_SHA256,  # the judge pin battles must name for this node to join and judge them
        "peers": len(node.peers()),
        "messages": node.store.count(),
        "dropped": node.dropped,
        "listen_addrs": node.listen_addrs,
        "gossip": node.host.gossip_state(peers=req.boolean(params, "gossip_peers", False)),
    }


METHODS: dict[str, Handler] = {
    "id": _id,
    "post": _post,
    "follow": _follow,
    "unfollow": _unfollow,
    "feed": _feed,
    "peers": _peers,
    "profile_show": _profile_show,
    "profile_set": _profile_set,
    "leaderboard": _leaderboard,
    "crew_create": _crew_create,
    "crew_invite": _crew_invite,
    "crew_join": _crew_join,
    "crew_feed": _crew_feed,
    "crews": _crews,
    "chat": _chat,
    "react": _react,
    "notifications": _notifications,
    "flag": _flag,
    "sync": _sync,
    "connect": _connect,
    "status": _status,
}


class ControlServer:
    def __init__(
        self,
        node: Node,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        extra_methods: dict[str, Handler] | None = None,
    ) -> None:
        """``extra_methods``: what services attached to the node add (live audio, ...)."""
        self.node = node
        self.methods = {**METHODS, **(extra_methods or {})}
        self._bind = (host, port)
        self._server: asyncio.Server | None = None
        self._token = secrets.token_hex(32)
        self._streaming = 0

    @property
    def token(self) -> str:
        """The secret in ``control.token`` (the web server accepts it too, as ``X-Djmesh-Token``)."""
        return self._token

    @property
    def open_streams(self) -> int:
        """Streaming answers being sent now."""
        return self._streaming

    @property
    def address(self) -> tuple[str, int]:
        assert self._server is not None
        host, port = self._server.sockets[0].getsockname()[:2]
        return str(host), int(port)

    async def __aenter__(self) -> ControlServer:
        self._server = await asyncio.start_server(self._serve, *self._bind, limit=MAX_REQUEST_BYTES)
        home = self.node.home
        _write_private(home.root / "control.token", self._token + "\n")
        host, port = self.address
        info = {"host": host, "port": port, "pid": os.getpid(), "peer_id": self.node.peer_id}
        _write_private(home.root / "control.json", json.dumps(info) + "\n")
        return self

    async def __aexit__(self, *exc: object) -> None:
        for name in ("control.json", "control.token"):
            with contextlib.suppress(FileNotFoundError):
                (self.node.home.root / name).unlink()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    line = await reader.readline()
                except (asyncio.LimitOverrunError, ValueError):
                    await _reply(writer, {"ok": False, "error": "request too large"})
                    return
                if not line:
                    return
                answer = await self._handle(line)
                if isinstance(answer, dict):
                    await _reply(writer, answer)
                    continue
                await self._stream(reader, writer, answer)
                return
        except ConnectionError:
            return
        finally:
            writer.close()

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, items: AsyncIterator[Any]
    ) -> None:
        """Send ``items`` one line each until they end or the client hangs up (then they are closed)."""
        if self._streaming >= MAX_STREAMING:
            await _close_items(items)
            await _reply(
                writer, {"ok": False, "error": f"too many streaming answers open (at most {MAX_STREAMING})"}
            )
            return
        self._streaming += 1

        async def pump() -> None:
            try:
                async for item in items:
                    await _reply(writer, {"ok": True, "item": item})
                await _reply(writer, {"ok": True, "end": True})
            except (ControlError, NodeError, ProtocolError) as exc:
                await _reply(writer, {"ok": False, "error": _one_line(str(exc))})
            except ConnectionError:
                pass
            except Exception:  # a bug must not take the node down with it
                with contextlib.suppress(ConnectionError):
                    await _reply(writer, {"ok": False, "error": _internal_error("a streaming answer")})

        async def hangup() -> None:
            while await reader.read(4096):  # nothing more is expected from the client: only its EOF
                pass

        sending = asyncio.ensure_future(pump())
        listening = asyncio.ensure_future(hangup())
        try:
            await asyncio.wait({sending, listening}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._streaming -= 1
            for task in (sending, listening):
                task.cancel()
            for task in (sending, listening):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await _close_items(items)

    async def _handle(self, line: bytes) -> dict[str, Any] | AsyncIterator[Any]:
        """Checks come cheapest first: JSON (any ``ValueError``: a 5,000-digit number is one), the
        token, the method and the parameters' shape; then the method, whose failures are one line."""
        try:
            request = json.loads(line)
        except (ValueError, RecursionError):
            return {"ok": False, "error": "request is not JSON"}
        if not isinstance(request, dict):
            return {"ok": False, "error": "request must be a JSON object"}
        token = request.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token.encode()):
            log.warning("control request with a bad token refused")
            return {"ok": False, "error": "bad or missing token"}
        name = request.get("method")
        method = self.methods.get(name) if isinstance(name, str) else None
        if method is None:
            shown = repr(name[:40]) if isinstance(name, str) else "(method must be a string)"
            return {"ok": False, "error": f"unknown method {shown}"}
        params = request.get("params")
        if params is None:
            params = {}
        if not isinstance(params, dict):
            return {"ok": False, "error": "params must be a JSON object"}
        try:
            result = await call_method(method, self.node, str(name), params)
        except ControlError as exc:
            return {"ok": False, "error": str(exc)}
        if isinstance(result, AsyncIterator):
            return result
        return {"ok": True, "result": result}


async def call_method(method: Handler, node: Node, name: str, params: dict[str, Any]) -> Any:
    """Run one control method as the control server does; also for an in-process caller (the TUI's own
    node), so both see the same answers. A refusal is a ``ControlError`` of one line, and so is a bug
    (which must not take the node down nor show its insides: its traceback goes to the log)."""
    try:
        return await method(node, params)
    except (ControlError, NodeError, ProtocolError) as exc:
        raise ControlError(_one_line(str(exc))) from exc
    except Exception as exc:
        raise ControlError(_internal_error(f"method {name}")) from exc


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500] or "refused"


def _internal_error(what: str) -> str:
    """Log the traceback under a short code; the caller gets the code, not the exception's text."""
    code = secrets.token_hex(4)
    log.exception("control %s failed [error %s]", what, code)
    return f"internal error {code} (the node's log has the details)"


async def _close_items(items: AsyncIterator[Any]) -> None:
    close = getattr(items, "aclose", None)
    if close is not None:
        with contextlib.suppress(Exception):
            await close()


async def _reply(writer: asyncio.StreamWriter, response: dict[str, Any]) -> None:
    writer.write(json.dumps(response).encode() + b"\n")
    await writer.drain()


def _write_private(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    tmp.replace(path)


class ControlClient:
    """Talks to the node running at ``home``."""

    def __init__(self, home: NodeHome, *, timeout_s: float = 60.0) -> None:
        self.home = home
        self.timeout_s = timeout_s

    def _endpoint(self) -> tuple[str, int, str]:
        not_running = NodeNotRunningError(
            f"no node is running at {self.home.root}; start one with `djmesh --home {self.home.root} node`"
        )
        try:
            info = json.loads((self.home.root / "control.json").read_text(encoding="utf-8"))
            token = (self.home.root / "control.token").read_text(encoding="utf-8").strip()
        except (OSError, json.JSONDecodeError) as exc:
            raise not_running from exc
        return str(info["host"]), int(info["port"]), token

    async def _send(
        self, method: str, params: dict[str, Any]
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Connects and sends one request; the caller reads the answer and closes the writer."""
        host, port, token = self._endpoint()
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=64 * 1024 * 1024)
        except OSError as exc:
            raise NodeNotRunningError(
                f"no node is running at {self.home.root} (its control port {port} refused the connection)"
            ) from exc
        try:
            writer.write(json.dumps({"token": token, "method": method, "params": params}).encode() + b"\n")
            await writer.drain()
        except BaseException:
            writer.close()
            raise
        return reader, writer

    async def call(self, method: str, **params: Any) -> Any:
        reader, writer = await self._send(method, params)
        try:
            line = await asyncio.wait_for(reader.readline(), self.timeout_s)
        except TimeoutError as exc:
            raise ControlError(f"the node did not answer {method} within {self.timeout_s:.0f} s") from exc
        finally:
            writer.close()
        if not line:
            raise ControlError("the node closed the connection")
        response = json.loads(line)
        if not response.get("ok"):
            raise ControlError(str(response.get("error")))
        return response.get("result")

    async def stream(self, method: str, **params: Any) -> AsyncIterator[Any]:
        """The items of a streaming method as they come; closing the iterator hangs up (the node stops).

        Raises ``ControlError`` when the node refuses, ends the stream with an error, or sends nothing
        for ``timeout_s``.
        """
        reader, writer = await self._send(method, params)
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.timeout_s)
                except TimeoutError as exc:
                    raise ControlError(
                        f"the node sent nothing on {method} for {self.timeout_s:.0f} s"
                    ) from exc
                if not line:
                    raise ControlError(f"the node closed the {method} stream")
                response = json.loads(line)
                if not response.get("ok"):
                    raise ControlError(str(response.get("error")))
                if response.get("end"):
                    return
                if "item" not in response:
                    raise ControlError(f"{method} is not a streaming method")
                yield response["item"]
        finally:
            writer.close()
