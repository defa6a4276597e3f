"""node/sim/network.py: the in-memory transport's delays, loss, ordering, partitions and crashes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from djmesh.node.clock import VirtualClock, run_virtual
from djmesh.node.live.transport import ControlMessage, Link
from djmesh.node.sim.network import IDLE_TIMEOUT_S, LISTEN_PORT, LinkProfile, SimLink, SimNetwork

T = TypeVar("T")


class Recorder:
    """A LinkHandler that notes when everything arrived."""

    def __init__(self) -> None:
        self.datagrams: list[tuple[float, bytes]] = []
        self.control: list[tuple[float, ControlMessage]] = []
        self.closed: list[tuple[float, str]] = []

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()

    def on_datagram(self, link: Link, data: bytes) -> None:
        self.datagrams.append((self._now(), data))

    def on_control(self, link: Link, message: ControlMessage) -> None:
        self.control.append((self._now(), message))

    def on_closed(self, link: Link, reason: str) -> None:
        self.closed.append((self._now(), reason))


async def pair(
    network: SimNetwork, a: str = "10.0.0.1", b: str = "10.0.0.2"
) -> tuple[SimLink, Recorder, Recorder]:
    """A link from ``a`` to ``b``: (client side, what the client heard, what the server heard)."""
    server_heard, client_heard = Recorder(), Recorder()

    def on_link(link: Link) -> None:
        link.handler = server_heard

    await network.transport(b).listen("0.0.0.0", on_link)
    client = await network.transport(a).connect((b, LISTEN_PORT), client_heard, timeout_s=3.0)
    return client, client_heard, server_heard


def simulate(main: Callable[[], Awaitable[T]]) -> T:
    async def wrapper() -> T:
        return await main()

    return run_virtual(wrapper(), VirtualClock())


def test_datagrams_take_the_paths_delay_and_a_connect_one_round_trip() -> None:
    network = SimNetwork(7, LinkProfile(latency_s=(0.020, 0.080)))

    async def main() -> tuple[float, float, list[float]]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        client, _, server = await pair(network)
        connected = loop.time() - start
        sent = loop.time()
        for i in range(10):
            client.send_datagram(bytes([i]))
        await asyncio.sleep(1)
        return connected, network.one_way_s("10.0.0.1", "10.0.0.2"), [t - sent for t, _ in server.datagrams]

    connected, one_way, delays = simulate(main)
    assert 0.020 <= one_way <= 0.080
    assert one_way == network.one_way_s("10.0.0.2", "10.0.0.1")
    assert connected == pytest.approx(2 * one_way)
    assert delays == pytest.approx([one_way] * 10)


def test_a_senders_handling_time_adds_to_each_packet_and_control_stays_in_order() -> None:
    """``hop_s``: the time a real node's code takes with each packet it sends, drawn per packet."""
    network = SimNetwork(7, LinkProfile(latency_s=(0.001, 0.001), hop_s=(0.0001, 0.0009)))

    async def main() -> tuple[list[float], list[float], list[ControlMessage]]:
        loop = asyncio.get_running_loop()
        client, _, server = await pair(network)
        sent = loop.time()
        for i in range(200):
            client.send_datagram(bytes([i]))
            client.send_control({"op": "ping", "n": i})
        await asyncio.sleep(1)
        return (
            [t - sent for t, _ in server.datagrams],
            [t - sent for t, _ in server.control],
            [m for _, m in server.control],
        )

    datagrams, control, messages = simulate(main)
    assert len(datagrams) == 200 and all(0.0011 <= d <= 0.0019 for d in datagrams)
    assert max(datagrams) - min(datagrams) > 0.0006  # spread over the range, not a constant
    assert [m["n"] for m in messages] == list(range(200))  # delayed, but a stream keeps its order
    assert control == sorted(control) and all(0.0011 <= d <= 0.0019 for d in control[:1])


def test_loss_jitter_and_reordering_hit_datagrams_but_control_arrives_whole_and_in_order() -> None:
    network = SimNetwork(3, LinkProfile(loss=0.2, jitter_s=0.03, reorder=0.1))

    async def main() -> tuple[list[bytes], list[ControlMessage]]:
        client, _, server = await pair(network)
        for i in range(1000):
            client.send_datagram(i.to_bytes(2, "big"))
            client.send_control({"op": "n", "i": i})
            await asyncio.sleep(0.005)
        await asyncio.sleep(5)
        return [d for _, d in server.datagrams], [m for _, m in server.control]

    datagrams, control = simulate(main)
    assert 700 <= len(datagrams) <= 900  # 20 % lost, give or take
    order = [int.from_bytes(d, "big") for d in datagrams]
    assert order != sorted(order)  # jitter and reordering let later ones overtake
    assert [m["i"] for m in control] == list(range(1000))
    assert network.stats.control_retransmits > 100


def test_the_same_seed_gives_the_same_run() -> None:
    def run(seed: int) -> list[tuple[float, bytes]]:
        network = SimNetwork(seed, LinkProfile(loss=0.1, jitter_s=0.01, reorder=0.05))

        async def main() -> list[tuple[float, bytes]]:
            client, _, server = await pair(network)
            for i in range(200):
                client.send_datagram(bytes([i]))
                await asyncio.sleep(0.02)
            await asyncio.sleep(1)
            return server.datagrams

        return simulate(main)

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_the_uplink_rate_spaces_packets_and_drops_what_overflows_its_queue() -> None:
    network = SimNetwork(1, LinkProfile(latency_s=(0.05, 0.05), uplink_bps=80_000, queue_s=0.25))

    async def main() -> list[float]:
        client, _, server = await pair(network)
        start = asyncio.get_running_loop().time()
        for _ in range(100):
            client.send_datagram(bytes(952))  # 1000 bytes with overhead: 0.1 s each at 80 kbit/s
        await asyncio.sleep(5)
        return [t - start for t, _ in server.datagrams]

    arrivals = simulate(main)
    assert len(arrivals) == 3  # 0.1, 0.2, 0.3 s of queue; the rest would wait over 0.25 s
    assert arrivals == pytest.approx([0.15, 0.25, 0.35])
    assert network.stats.datagrams_dropped == 97


def test_dialling_a_host_that_is_down_times_out() -> None:
    network = SimNetwork(1)

    async def main() -> float:
        await network.transport("10.0.0.2").listen("0.0.0.0", lambda link: None)
        network.crash("10.0.0.2")
        loop = asyncio.get_running_loop()
        start = loop.time()
        with pytest.raises(TimeoutError):
            await network.transport("10.0.0.1").connect(("10.0.0.2", LISTEN_PORT), Recorder(), timeout_s=3.0)
        return loop.time() - start

    assert simulate(main) == pytest.approx(3.0)


def test_a_crashed_peer_goes_silent_and_the_link_closes_after_the_idle_timeout() -> None:
    network = SimNetwork(1)

    async def main() -> tuple[SimLink, Recorder, float]:
        client, client_heard, _ = await pair(network)
        crashed_at = asyncio.get_running_loop().time()
        network.crash("10.0.0.2")
        client.send_control({"op": "hello"})
        await asyncio.sleep(IDLE_TIMEOUT_S + 1)
        return client, client_heard, crashed_at

    client, heard, crashed_at = simulate(main)
    assert heard.control == []
    assert client.closed
    assert [(round(t - crashed_at, 6), r) for t, r in heard.closed] == [(IDLE_TIMEOUT_S, "idle timeout")]


def test_a_close_reaches_the_peer_with_its_reason() -> None:
    network = SimNetwork(1)

    async def main() -> Recorder:
        client, _, server = await pair(network)
        client.send_control({"op": "bye"})
        client.close("leaving")
        await asyncio.sleep(1)
        return server

    server = simulate(main)
    assert [m["op"] for _, m in server.control] == ["bye"]
    assert [r for _, r in server.closed] == ["leaving"]


def test_a_partition_holds_control_until_it_heals_and_drops_datagrams_meanwhile() -> None:
    network = SimNetwork(1)

    async def main() -> tuple[Recorder, float]:
        client, _, server = await pair(network)
        network.partition(["10.0.0.2"])
        assert not network.reachable("10.0.0.1", "10.0.0.2")
        client.send_datagram(b"lost")
        client.send_control({"op": "held"})
        await asyncio.sleep(2)
        assert server.control == [] and server.datagrams == []
        healed_at = asyncio.get_running_loop().time()
        network.heal()
        client.send_datagram(b"through")
        await asyncio.sleep(1)
        assert not client.closed  # healed before the idle timeout
        return server, healed_at

    server, healed_at = simulate(main)
    assert [d for _, d in server.datagrams] == [b"through"]
    assert [m["op"] for _, m in server.control] == ["held"]
    assert server.control[0][0] > healed_at


def test_a_long_partition_closes_the_links_across_it() -> None:
    network = SimNetwork(1)

    async def main() -> tuple[SimLink, Recorder]:
        client, _, server = await pair(network)
        network.partition(["10.0.0.1"], ["10.0.0.2"])
        await asyncio.sleep(IDLE_TIMEOUT_S + 1)
        return client, server

    client, server = simulate(main)
    assert client.closed
    assert [r for _, r in server.closed] == ["idle timeout"]


def test_bad_control_bytes_cost_only_that_link() -> None:
    network = SimNetwork(1)

    async def main() -> tuple[SimLink, Recorder]:
        client, _, server = await pair(network)
        network._send_control(client, b"\x00\x00\x00\x02\xff\xff")  # a length prefix, then junk CBOR
        await asyncio.sleep(1)
        return client, server

    client, server = simulate(main)
    assert server.closed and "bad control data" in server.closed[0][1]
    assert client.closed  # the server's close reached it
