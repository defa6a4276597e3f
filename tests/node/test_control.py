"""The control API's streaming answers: items until the end or until the client hangs up."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from djmesh.node.control import MAX_STREAMING, ControlClient, ControlServer
from djmesh.node.errors import ControlError
from djmesh.node.node import Node
from tests.helpers.network import make_node, wait_until

pytestmark = pytest.mark.timeout(60)


class Counter:
    """A streaming method that counts; it notes when its iterator is closed (the node's cleanup)."""

    def __init__(self) -> None:
        self.closed = 0
        self.running = 0

    async def handler(self, node: Node, params: dict[str, Any]) -> AsyncIterator[int]:
        upto = params.get("upto")
        if upto == "bad":
            raise ControlError("upto must be a number")
        return self.items(upto)

    async def items(self, upto: int | None) -> AsyncIterator[int]:
        self.running += 1
        try:
            n = 0
            while upto is None or n < upto:
                yield n
                n += 1
                await asyncio.sleep(0.01)
            if upto == 3:
                raise ControlError("three is enough")
        finally:
            self.running -= 1
            self.closed += 1


async def test_a_streaming_method_sends_items_then_ends_and_errors_reach_the_client(tmp_path: Path) -> None:
    counter = Counter()
    async with (
        make_node(tmp_path, "node", []) as node,
        ControlServer(node, extra_methods={"count": counter.handler}),
    ):
        client = ControlClient(node.home, timeout_s=10)
        assert [n async for n in client.stream("count", upto=5)] == [0, 1, 2, 3, 4]
        seen: list[int] = []
        with pytest.raises(ControlError, match="three is enough"):
            async for n in client.stream("count", upto=3):
                seen.append(n)
        assert seen == [0, 1, 2]
        with pytest.raises(ControlError, match="upto must be a number"):
            async for _ in client.stream("count", upto="bad"):
                pass
        with pytest.raises(ControlError, match="not a streaming method"):
            async for _ in client.stream("status"):
                pass
        assert (await client.call("status"))["peer_id"] == node.peer_id  # plain methods still answer
        await wait_until(lambda: counter.closed == 2, what="the finished streams closed")


async def test_hanging_up_stops_the_stream_on_the_node_and_streams_are_bounded(tmp_path: Path) -> None:
    counter = Counter()
    async with (
        make_node(tmp_path, "node", []) as node,
        ControlServer(node, extra_methods={"count": counter.handler}),
    ):
        client = ControlClient(node.home, timeout_s=10)
        stream = client.stream("count")
        assert [await anext(stream) for _ in range(3)] == [0, 1, 2]
        assert counter.running == 1
        await stream.aclose()  # the client hangs up
        await wait_until(lambda: counter.running == 0, what="the node to stop the abandoned stream")

        held = [client.stream("count") for _ in range(MAX_STREAMING)]
        for one in held:
            assert await anext(one) == 0
        with pytest.raises(ControlError, match="too many streaming answers"):
            await anext(client.stream("count"))
        assert (await client.call("status"))["peer_id"] == node.peer_id
        for one in held:
            await one.aclose()
        await wait_until(lambda: counter.running == 0, what="every stream closed")
        again = client.stream("count")
        assert await anext(again) == 0  # room again
        await again.aclose()
