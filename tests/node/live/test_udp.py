"""The live links' UDP endpoint reads what queued while the loop was busy in one wakeup, not one per turn."""

from __future__ import annotations

import asyncio
import socket

from djmesh.node.live.udp import READ_BATCH, bound_socket, open_endpoint


class _Collect(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.got: list[bytes] = []
        self.lost = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.got.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set()


async def test_datagrams_queued_while_the_loop_was_busy_are_read_in_one_wakeup() -> None:
    protocol = _Collect()
    transport = open_endpoint(bound_socket("127.0.0.1"), protocol)
    address = transport.get_extra_info("sockname")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        # the loop does nothing while these arrive: they wait in the kernel's queue, as during a busy turn
        count = READ_BATCH + 36
        for k in range(count):
            sender.sendto(k.to_bytes(2, "big"), address)
        per_turn = []
        for _ in range(10):  # turns of the loop (asyncio's own transport reads one datagram per turn)
            before = len(protocol.got)
            await asyncio.sleep(0)
            per_turn.append(len(protocol.got) - before)
        assert max(per_turn) == READ_BATCH and sum(1 for n in per_turn if n) == 2, per_turn
        assert [int.from_bytes(d, "big") for d in protocol.got] == list(range(count))  # all, in order
    finally:
        sender.close()
        transport.close()
    await asyncio.wait_for(protocol.lost.wait(), 5)


async def test_both_ways_and_closed() -> None:
    a, b = _Collect(), _Collect()
    ta = open_endpoint(bound_socket("127.0.0.1"), a)
    tb = open_endpoint(bound_socket("127.0.0.1"), b)
    ta.sendto(b"ping", tb.get_extra_info("sockname"))
    while not b.got:
        await asyncio.sleep(0.01)
    tb.sendto(b"pong", ta.get_extra_info("sockname"))
    while not a.got:
        await asyncio.sleep(0.01)
    assert (a.got, b.got) == ([b"pong"], [b"ping"])
    ta.close()
    assert ta.is_closing()
    ta.sendto(b"late", tb.get_extra_info("sockname"))  # ignored, not an error
    await asyncio.wait_for(a.lost.wait(), 5)
    assert ta.get_extra_info("socket").fileno() == -1  # the socket is released
    tb.close()
    await asyncio.wait_for(b.lost.wait(), 5)
