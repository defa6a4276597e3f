"""The verified-playout switch: config.toml's ``[live] verified_playout`` and `djmesh listen --verified-playout`.

With it a listener plays only frames whose segment verified, a segment (1 s) and more behind the DJ, so a lying
relay's audio is never heard (tests/node/sim/test_lying_relay.py); without it frames play within milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.control import ControlClient, ControlServer
from djmesh.node.errors import ControlError
from djmesh.node.live.control import LIVE_METHODS
from djmesh.node.node import NodeOptions
from djmesh.node.services import NodeServices
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home
from tests.node.live.mesh import live_nodes

pytestmark = pytest.mark.timeout(120)
SINE = "lavfi:sine=frequency=440"


async def test_config_key_reaches_the_live_service_and_the_composition_root_can_override_it(
    tmp_path: Path,
) -> None:
    home = make_home(tmp_path, "fan")
    options = NodeOptions(listen=[LOOPBACK], bootstrap=[])
    async with NodeServices(home, options=options, auto_join=False) as services:
        assert services.live.verified_playout is False  # off by default
    home.config_file.write_text(home.config_file.read_text() + "\n[live]\nverified_playout = true\n")
    async with NodeServices(home, options=options, auto_join=False) as services:
        assert services.live.verified_playout is True
    async with NodeServices(home, options=options, auto_join=False, verified_playout=False) as services:
        assert services.live.verified_playout is False


async def test_listen_with_verified_playout_over_the_control_api_plays_only_verified_audio(
    tmp_path: Path,
) -> None:
    async with bootstrap_server() as boot, live_nodes(tmp_path, boot, ["dj", "fan"]) as nodes:
        (_, dj), (fan_node, fan) = nodes
        assert fan.verified_playout is False
        stream_id = await dj.start_stream(SINE, title="switch")
        async with ControlServer(fan_node, extra_methods=LIVE_METHODS):
            client = ControlClient(fan_node.home, timeout_s=30)
            with pytest.raises(ControlError, match="verified_playout must be true or false"):
                await client.call("listen", stream_id=stream_id, seconds=1, verified_playout="yes")
            plain = await client.call("listen", stream_id=stream_id, seconds=3)
            # the same subscription (the node keeps relaying it) switches to verified playout
            verified = await client.call("listen", stream_id=stream_id, seconds=4, verified_playout=True)
        assert plain["verified_playout"] is False and plain["played_frames"] > 50
        assert plain["latency_ms"] < 500, plain
        assert verified["verified_playout"] is True and verified["played_frames"] > 50, verified
        # a frame is played only once its segment (50 frames of 20 ms) is signed and verified
        assert verified["latency_ms"] > 1000, verified
        assert fan._subscriptions[bytes.fromhex(stream_id)].verified_playout
