"""A small obs-websocket v5 server: a stand-in for OBS, which cannot run here (no display, no GPU).

It checks the Identify authentication with its own computation of the v5 formula, closes with
4009 on a wrong one (as OBS does), answers GetSceneList and SetCurrentProgramScene, and records
every request.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web


def _expected_auth(password: str, salt: str, challenge: str) -> str:
    secret = base64.b64encode(hashlib.sha256((password + salt).encode()).digest()).decode()
    return base64.b64encode(hashlib.sha256((secret + challenge).encode()).digest()).decode()


@dataclass
class FakeObs:
    password: str | None
    scenes: list[str]
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    identified: int = 0
    refused: int = 0
    program: str | None = None
    url: str = ""

    def switches(self) -> list[str]:
        return [data["sceneName"] for kind, data in self.requests if kind == "SetCurrentProgramScene"]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(protocols=("obswebsocket.json",))
        await ws.prepare(request)
        assert ws.ws_protocol == "obswebsocket.json"
        hello: dict[str, Any] = {"obsWebSocketVersion": "5.5.0", "rpcVersion": 1}
        salt, challenge = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        if self.password is not None:
            hello["authentication"] = {"challenge": challenge, "salt": salt}
        await ws.send_json({"op": 0, "d": hello})
        identify = await ws.receive_json()
        assert identify["op"] == 1 and identify["d"]["rpcVersion"] == 1
        if self.password is not None and identify["d"].get("authentication") != _expected_auth(
            self.password, salt, challenge
        ):
            self.refused += 1
            await ws.close(code=4009, message=b"Authentication failed.")
            return ws
        self.identified += 1
        await ws.send_json({"op": 2, "d": {"negotiatedRpcVersion": 1}})
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                break
            body = message.json()
            if body.get("op") != 6:
                continue
            await ws.send_json({"op": 7, "d": self._answer(body["d"])})
        return ws

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        kind, data = request["requestType"], request.get("requestData") or {}
        self.requests.append((kind, data))
        reply: dict[str, Any] = {"requestType": kind, "requestId": request["requestId"]}
        if kind == "GetSceneList":
            reply["requestStatus"] = {"result": True, "code": 100}
            reply["responseData"] = {
                "currentProgramSceneName": self.program,
                "scenes": [{"sceneName": name, "sceneIndex": i} for i, name in enumerate(self.scenes)],
            }
        elif kind == "SetCurrentProgramScene" and data.get("sceneName") in self.scenes:
            self.program = data["sceneName"]
            reply["requestStatus"] = {"result": True, "code": 100}
        elif kind == "SetCurrentProgramScene":
            reply["requestStatus"] = {"result": False, "code": 600, "comment": "No source was found."}
        else:
            reply["requestStatus"] = {"result": False, "code": 204, "comment": "Unknown request type."}
        return reply


@contextlib.asynccontextmanager
async def fake_obs(password: str | None, scenes: list[str]) -> AsyncIterator[FakeObs]:
    server = FakeObs(password, scenes)
    app = web.Application()
    app.router.add_get("/", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    server.url = f"ws://127.0.0.1:{port}"
    try:
        yield server
    finally:
        await runner.cleanup()
