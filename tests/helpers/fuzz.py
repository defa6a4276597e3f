"""How hard the fuzz tests try: a few examples in the ordinary test run, many in CI's fuzz stage.

``DJMESH_FUZZ_EXAMPLES`` (set by ``.ci/run``'s fuzz step) scales every fuzz test's example count.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from djmesh.protocol.profiles import PROFILE_PROTOCOL_ID
from djmesh.protocol.sync import SYNC_PROTOCOL_ID
from djmesh.protocol.votes import VOTE_RELAY_PROTOCOL_ID

# what a node answers on libp2p: its own protocols and py-libp2p's (pubsub, identify, ping, relay, DHT)
SERVED_PROTOCOLS = (
    "/meshsub/1.0.0",
    "/meshsub/1.1.0",
    "/ipfs/id/1.0.0",
    "/ipfs/id/push/1.0.0",
    "/ipfs/ping/1.0.0",
    "/libp2p/circuit/relay/0.2.0/stop",
    "/ipfs/kad/1.0.0",
    SYNC_PROTOCOL_ID,
    PROFILE_PROTOCOL_ID,
    VOTE_RELAY_PROTOCOL_ID,
)


def examples(default: int) -> int:
    return int(os.environ.get("DJMESH_FUZZ_EXAMPLES", default))


def fuzz_settings(default_examples: int = 100) -> settings:
    return settings(
        max_examples=examples(default_examples),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` examples up front (for tests that send them all to one running node)."""
    drawn: list[Any] = []

    @settings(max_examples=count, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(value: Any) -> None:
        drawn.append(value)

    collect()
    return drawn
