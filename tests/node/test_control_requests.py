"""Malformed control requests: one-line errors, strict parameter types, no internals leaked."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.control import ControlClient, ControlServer
from djmesh.node.errors import ControlError
from djmesh.node.node import Node
from tests.helpers.network import make_node

pytestmark = pytest.mark.timeout(60)


async def raw_request(server: ControlServer, line: bytes) -> dict[str, Any]:
    """Send one raw line; the node's answer, which must be exactly one JSON line."""
    host, port = server.address
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(line + b"\n")
        await writer.drain()
        answer = await asyncio.wait_for(reader.readline(), 10)
    finally:
        writer.close()
    assert answer.endswith(b"\n") and answer.count(b"\n") == 1
    parsed: dict[str, Any] = json.loads(answer)
    return parsed


async def secret_failure(node: Node, params: dict[str, Any]) -> Any:
    raise RuntimeError("db password is hunter2")


async def test_malformed_requests_get_one_line_errors_and_no_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        make_node(tmp_path, "node", []) as node,
        ControlServer(node, extra_methods={"explode": secret_failure}) as server,
    ):
        token = server.token
        huge = b"1" * 5000
        cases = [
            b'{"method": "status", "token": ' + huge + b"}",  # a 5,000-digit number before the token
            b"[" * 30_000 + b"]" * 30_000,  # nesting deeper than the JSON parser's recursion
            b'{"token": "\xff\xfe", "method": "status"}',  # not UTF-8
            json.dumps({"token": "\u00e9" * 64, "method": "status"}).encode(),  # a non-ASCII token
            json.dumps({"token": token, "method": ["status"]}).encode(),
            json.dumps({"token": token, "method": "status", "params": [1, 2]}).encode(),
            json.dumps({"token": token, "method": "feed", "params": {"limit": "50"}}).encode(),
            json.dumps({"token": token, "method": "feed", "params": {"before": "yesterday"}}).encode(),
            json.dumps(
                {
                    "token": token,
                    "method": "flag",
                    "params": {"peer_id": node.peer_id, "flag": "mute", "on": "no"},
                }
            ).encode(),
        ]
        with caplog.at_level(logging.DEBUG):
            for line in cases:
                answer = await raw_request(server, line)
                assert answer["ok"] is False and answer["error"], line[:60]
                assert "\n" not in answer["error"]
            assert not [r for r in caplog.records if r.exc_info], "a malformed request raised inside the node"
            # A failing method: the caller gets a short code, the log the exception with the same code.
            answer = await raw_request(server, json.dumps({"token": token, "method": "explode"}).encode())
        assert "hunter2" not in answer["error"] and "RuntimeError" not in answer["error"]
        code = answer["error"].split()[2]
        assert answer["error"].startswith("internal error ") and len(code) == 8
        assert any(code in r.getMessage() and r.exc_info for r in caplog.records)
        client = ControlClient(node.home, timeout_s=10)
        assert (await client.call("status"))["peer_id"] == node.peer_id  # still serving


async def test_parameters_are_type_checked_not_coerced(tmp_path: Path) -> None:
    async with make_node(tmp_path, "node", []) as node, ControlServer(node):
        client = ControlClient(node.home, timeout_s=10)
        with pytest.raises(ControlError, match="links must be a list"):
            await client.call("profile_set", name="DJ Ada", links="abc")
        with pytest.raises(ControlError, match="wallets must be an object"):
            await client.call("profile_set", name="DJ Ada", wallets=["sol"])
        with pytest.raises(ControlError, match="bio must be a string"):
            await client.call("profile_set", name="DJ Ada", bio=["x"])
        with pytest.raises(ControlError, match="links must be a list"):
            await client.call("post", text="hello", links="https://a.example")
        with pytest.raises(ControlError, match="mentions must be a list"):
            await client.call("post", text="hello", mentions=node.peer_id)
        assert await client.call("profile_show") is None  # nothing was stored by the refused calls
        await client.call("profile_set", name="DJ Ada", links=["https://a.example"])
        assert (await client.call("profile_show"))["links"] == ["https://a.example"]
