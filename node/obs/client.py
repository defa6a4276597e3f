"""An obs-websocket v5 client on aiohttp: Hello -> Identify -> Identified, then requests.

aiohttp rather than obsws-python: it runs on the node's asyncio loop (obsws-python is
blocking, with its own threads) and brings no further dependency. Only what the bridge needs:
requests, one at a time, and their responses; OBS's events are not subscribed to.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from types import TracebackType
from typing import Any

import aiohttp

from djmesh.node.obs.auth import auth_response
from djmesh.node.obs.errors import ObsAuthError, ObsError

RPC_VERSION = 1
SUBPROTOCOL = "obswebsocket.json"
OP_HELLO, OP_IDENTIFY, OP_IDENTIFIED, OP_EVENT, OP_REQUEST, OP_RESPONSE = 0, 1, 2, 5, 6, 7
CLOSE_AUTH_FAILED = 4009
CLOSE_REASONS = {
    4009: "OBS refused the password",
    4010: "OBS does not support obs-websocket RPC version 1",
    4011: "OBS closed the session",
}


class ObsClient:
    def __init__(self, url: str, password: str | None = None, *, timeout_s: float = 10.0) -> None:
        self.url = url
        self._password = password
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._lock = asyncio.Lock()
        self.obs_version: str | None = None

    async def __aenter__(self) -> ObsClient:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self) -> None:
        self._session = aiohttp.ClientSession()
        try:
            self._ws = await self._session.ws_connect(
                self.url, protocols=(SUBPROTOCOL,), timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout_s)
            )
            await asyncio.wait_for(self._identify(), self.timeout_s)
        except (aiohttp.ClientError, OSError) as exc:
            await self.close()
            raise ObsError(
                f"cannot reach OBS at {self.url}: {exc} (enable Tools > WebSocket Server Settings in OBS)"
            ) from exc
        except TimeoutError as exc:
            await self.close()
            raise ObsError(
                f"OBS at {self.url} did not complete the handshake in {self.timeout_s:.0f} s"
            ) from exc
        except ObsError:
            await self.close()
            raise

    async def _identify(self) -> None:
        hello = await self._receive()
        if hello.get("op") != OP_HELLO:
            raise ObsError(f"expected Hello from OBS, got op {hello.get('op')}")
        data = hello.get("d") or {}
        self.obs_version = data.get("obsWebSocketVersion")
        identify: dict[str, Any] = {"rpcVersion": RPC_VERSION, "eventSubscriptions": 0}
        challenge = data.get("authentication")
        if challenge:
            if self._password is None:
                raise ObsAuthError("OBS asks for a password: pass --password-file FILE")
            identify["authentication"] = auth_response(
                self._password, str(challenge["salt"]), str(challenge["challenge"])
            )
        await self._send({"op": OP_IDENTIFY, "d": identify})
        identified = await self._receive()
        if identified.get("op") != OP_IDENTIFIED:
            raise ObsError(f"expected Identified from OBS, got op {identified.get('op')}")

    async def _send(self, message: dict[str, Any]) -> None:
        assert self._ws is not None
        await self._ws.send_str(json.dumps(message))

    async def _receive(self) -> dict[str, Any]:
        assert self._ws is not None
        message = await self._ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT:
            try:
                value = json.loads(message.data)
            except json.JSONDecodeError as exc:
                raise ObsError("OBS sent a message that is not JSON") from exc
            if not isinstance(value, dict):
                raise ObsError("OBS sent a message that is not a JSON object")
            return value
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED):
            code = self._ws.close_code
            reason = CLOSE_REASONS.get(code or 0, f"OBS closed the connection (code {code})")
            raise (ObsAuthError if code == CLOSE_AUTH_FAILED else ObsError)(reason)
        raise ObsError(f"unexpected websocket message from OBS: {message.type.name}")

    async def request(self, request_type: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request and wait for its response; ``ObsError`` if OBS says it failed."""
        if self._ws is None:
            raise ObsError("not connected to OBS")
        request_id = uuid.uuid4().hex
        body: dict[str, Any] = {"requestType": request_type, "requestId": request_id}
        if data is not None:
            body["requestData"] = data
        async with self._lock:
            await self._send({"op": OP_REQUEST, "d": body})
            while True:
                message = await asyncio.wait_for(self._receive(), self.timeout_s)
                reply = message.get("d") or {}
                if message.get("op") == OP_RESPONSE and reply.get("requestId") == request_id:
                    break
        status = reply.get("requestStatus") or {}
        if not status.get("result"):
            comment = f": {status['comment']}" if status.get("comment") else ""
            raise ObsError(f"OBS refused {request_type} (code {status.get('code')}){comment}")
        response: dict[str, Any] = reply.get("responseData") or {}
        return response

    async def scene_names(self) -> list[str]:
        found = await self.request("GetSceneList")
        return [str(scene.get("sceneName")) for scene in found.get("scenes", [])]

    async def set_scene(self, name: str) -> None:
        await self.request("SetCurrentProgramScene", {"sceneName": name})

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
            self._ws = None
        if self._session is not None:
            await self._session.close()
            self._session = None
