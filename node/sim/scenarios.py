"""Chaos scenarios for the live mesh: loss, relays dying, a partition, on a simulated relay tree.

Each scenario joins a small tree (``LiveMesh``), lets it settle, then measures one window under
the fault. Rows carry the chaos report's battle fields as None (no battle runs in them) and the
live ones: the longest silence a listener heard (``audio_gap_s``), how much playout was concealed,
and how much of the signed record arrived whole.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from djmesh.node.clock import now_us
from djmesh.node.sim.mesh import LATENCY_BINS_MS, LiveMesh, histogram_percentile, percentile
from djmesh.node.sim.network import LinkProfile, SimNetwork

WIDE_RTT = (0.025, 0.100)  # one-way, so round trips of 50-200 ms


@dataclass(frozen=True)
class LiveScenario:
    name: str
    profile: LinkProfile = field(default_factory=LinkProfile)
    listeners: int = 60
    max_children: int = 4
    crash_share: float = 0.0  # this share of the relays crash at once as the window opens
    partition_s: float = 0.0  # a subtree below the DJ is cut off this long as the window opens
    window_s: float = 6.0


LIVE_SCENARIOS = [
    LiveScenario("live: 5 % loss, 50-200 ms RTT", LinkProfile(latency_s=WIDE_RTT, jitter_s=0.005, loss=0.05)),
    LiveScenario(
        "live: 10 % loss, 50-200 ms RTT", LinkProfile(latency_s=WIDE_RTT, jitter_s=0.005, loss=0.10)
    ),
    LiveScenario(
        "live: 20 % loss, 50-200 ms RTT", LinkProfile(latency_s=WIDE_RTT, jitter_s=0.005, loss=0.20)
    ),
    LiveScenario(
        "live: 20 % of relays die at once",
        LinkProfile(latency_s=(0.020, 0.080), jitter_s=0.002),
        crash_share=0.2,
    ),
    LiveScenario(
        "live: relays die under 5 % loss",
        LinkProfile(latency_s=WIDE_RTT, jitter_s=0.005, loss=0.05),
        crash_share=0.2,
    ),
    LiveScenario(
        "live: a subtree is cut off for 3 s, then heals",
        LinkProfile(latency_s=(0.020, 0.080), jitter_s=0.002),
        partition_s=3.0,
        window_s=16.0,
    ),
]


async def run_live_scenario(scenario: LiveScenario, seed: int) -> dict[str, Any]:
    network = SimNetwork(seed, scenario.profile)
    mesh = LiveMesh(network, seed=seed, max_children=scenario.max_children)
    await mesh.start_stream()
    listeners = mesh.add_listeners(scenario.listeners)
    await mesh.join_all(listeners, over_s=2.0)
    await asyncio.sleep(2.0)
    before = {
        n.host: (n.meter.played, n.meter.concealed, n.meter.record_frames, n.meter.record_lost)
        for n in listeners
    }
    for node in listeners:
        node.meter.mark()
    histogram = [0] * LATENCY_BINS_MS
    mesh.latency_ms = histogram
    victims = []
    if scenario.crash_share > 0 and (relays := mesh.relays()):
        victims = mesh.rng.sample(relays, max(1, round(scenario.crash_share * len(relays))))
        await mesh.crash(victims)
    if scenario.partition_s > 0:
        top = [
            n
            for n in listeners
            if n.subscription and n.subscription.hops == 1 and n.subscription.hub.children
        ]
        if top:
            relay = mesh.rng.choice(top)
            network.partition([n.host for n in [relay, *mesh.below([relay])]])
            await asyncio.sleep(scenario.partition_s)
            network.heal()
    await asyncio.sleep(scenario.window_s - scenario.partition_s)
    mesh.latency_ms = None
    end = now_us()
    survivors = [n for n in listeners if not n.crashed and n.join_error is None]
    gaps = [n.meter.gap_s(end) for n in survivors]
    played = sum(n.meter.played - before[n.host][0] for n in survivors)
    concealed = sum(n.meter.concealed - before[n.host][1] for n in survivors)
    record_frames = sum(n.meter.record_frames - before[n.host][2] for n in survivors)
    record_lost = sum(n.meter.record_lost - before[n.host][3] for n in survivors)
    low, high = scenario.profile.latency_s
    row: dict[str, Any] = {
        "name": scenario.name,
        "battles": None,
        "agreed": None,
        "within_f": None,
        "money_lost_wei": None,
        "audio_gap_s": round(max(gaps), 3) if gaps else None,
        "audio_gap_p95_s": round(percentile(gaps, 0.95), 3) if gaps else None,
        "listeners": len(survivors),
        "still_silent": sum(1 for n in survivors if not n.meter.hearing(end)),
        "concealed_pct": round(100 * concealed / max(1, played + concealed), 2),
        "record_lost_pct": round(100 * record_lost / max(1, record_frames), 3),
        "p95_latency_ms": histogram_percentile(histogram, 0.95),
        "loss": scenario.profile.loss,
        "rtt_ms": [round(2000 * low), round(2000 * high)],
        "crashed_relays": len(victims),
        "max_depth": mesh.depth(),
    }
    await mesh.close()
    return row
