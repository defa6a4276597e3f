"""Headless Chromium (Debian `chromium`) driven over the DevTools protocol with aiohttp's websocket client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.helpers.network import PATIENCE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(), reason="needs headless Chromium (Debian package `chromium`)"
)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-port=0",
)


class PageError(AssertionError):
    """JavaScript threw."""


class Page:
    """One tab: evaluate JavaScript in it and wait for conditions."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._ws = ws
        self._ids = itertools.count(1)

    async def evaluate(self, expression: str) -> Any:
        call_id = next(self._ids)
        params = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        await self._ws.send_json({"id": call_id, "method": "Runtime.evaluate", "params": params})
        while True:
            message = await asyncio.wait_for(self._ws.receive_json(), 30)
            if message.get("id") == call_id:
                result = message.get("result", {})
                if "exceptionDetails" in result:
                    raise PageError(f"page error: {result['exceptionDetails']}")
                return result.get("result", {}).get("value")

    async def wait_for(self, expression: str, *, timeout: float = 20.0, what: str = "") -> Any:
        """``expression``'s first truthy value; fails after ``timeout`` quiet-machine seconds x PATIENCE."""
        deadline = time.monotonic() + timeout * PATIENCE
        error = ""
        while time.monotonic() < deadline:
            try:
                value = await self.evaluate(expression)
            except PageError as exc:  # e.g. the page has not loaded yet
                error = str(exc)
                value = None
            if value:
                return value
            await asyncio.sleep(0.2)
        page_text = await self.evaluate("document.body ? document.body.innerText : ''")
        raise AssertionError(
            f"timed out waiting for {what or expression}; the page shows: {page_text!r} {error}"
        )


@contextlib.asynccontextmanager
async def chromium_page(url: str) -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile) showing ``url``."""
    profile = Path(tempfile.mkdtemp(prefix="djmesh-chromium-"))
    log = (profile / "chromium.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, *FLAGS, f"--user-data-dir={profile}", url, stdout=log, stderr=log
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if process.returncode is not None or time.monotonic() > deadline:
                raise AssertionError(
                    f"chromium did not start: {(profile / 'chromium.log').read_text()[-2000:]}"
                )
            await asyncio.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            targets: list[dict[str, Any]] = []
            while not any(t.get("type") == "page" for t in targets):
                async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
                    targets = json.loads(await response.text())
                await asyncio.sleep(0.1)
            target = next(t for t in targets if t.get("type") == "page")
            async with session.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                yield Page(ws)
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 10)
            except TimeoutError:
                process.kill()
                await process.wait()
        log.close()
        shutil.rmtree(profile, ignore_errors=True)
