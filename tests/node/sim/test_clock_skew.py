"""Per-node clocks in the simulator: nodes sharing one virtual loop each read their own wall clock, in their
own tasks and in what the simulated networks deliver to them."""

from __future__ import annotations

import asyncio
import contextvars

from djmesh.node.clock import SkewedClock, VirtualClock, current, now_ms, run_virtual, set_node_clock
from djmesh.node.sim.network import SimNetwork
from djmesh.node.sim.p2p import SimP2PHost, SimP2PNetwork


def test_a_skewed_clock_is_off_by_its_offset_plus_drift_and_sleeps_like_its_base() -> None:
    base = VirtualClock()
    skewed = SkewedClock(base, offset_s=-2.0, drift_ppm=100.0)
    assert skewed.wall_us() - base.wall_us() == -2_000_000
    base.advance(1000.0)
    assert skewed.now() == base.now()
    assert skewed.wall_us() - base.wall_us() == -2_000_000 + 100_000  # 100 ppm of 1000 s


def test_each_node_reads_its_own_clock_in_its_tasks_and_in_what_arrives_for_it() -> None:
    async def main() -> dict[str, int]:
        sim = SimP2PNetwork(SimNetwork(1), seed=1)
        seen: dict[str, int] = {}

        def build(offset_s: float) -> contextvars.Context:
            context = contextvars.copy_context()
            context.run(set_node_clock, SkewedClock(current(), offset_s))
            return context

        fast, honest = build(30.0), build(0.0)
        started = now_ms()

        async def reader(name: str) -> None:
            await asyncio.sleep(1.0)
            seen[name] = now_ms() - started

        await asyncio.gather(
            asyncio.get_running_loop().create_task(reader("fast task"), context=fast),
            asyncio.get_running_loop().create_task(reader("honest task"), context=honest),
        )

        def host(context: contextvars.Context, seed: int) -> SimP2PHost:
            return context.run(SimP2PHost, sim, bytes([seed]) * 32, [])

        a, b = host(fast, 1), host(honest, 2)
        async with a, b:
            await b.connect(a.listen_addrs[0])

            async def answer(data: bytes, peer: str) -> bytes:
                seen["fast serves"] = now_ms() - started
                return b"ok"

            a.set_request_handler("/t/1", answer)
            await b.request(a.peer_id, "/t/1", b"hi")
        return seen

    seen = run_virtual(main())
    assert seen["fast task"] - seen["honest task"] == 30_000, seen
    assert seen["fast serves"] > 30_000, seen
