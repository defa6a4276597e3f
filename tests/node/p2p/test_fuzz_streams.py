"""Fuzzing a running node's libp2p streams: whatever a peer writes on any protocol the node serves, the stream
is answered, refused or reset, and the node stays on the network (the host once stopped on one bad RPC)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import strategies as st

from djmesh.node.p2p import P2PError, P2PHost
from djmesh.protocol.sync import SYNC_PROTOCOL_ID
from tests.helpers.fuzz import SERVED_PROTOCOLS, draw
from tests.helpers.fuzz import examples as fuzz_examples
from tests.helpers.network import LOOPBACK, bootstrap_server, make_node, wait_until

pytestmark = [pytest.mark.timeout(600), pytest.mark.fuzz]

IN_FLIGHT = 16
# protobuf cannot parse this as a pubsub RPC: it stopped a node's whole libp2p host before the guard
KNOWN_KILLER = b"\x0a\xff\xff\xff\x00garbage"


def protobuf_field(tag: int, body: bytes) -> bytes:
    """One length-delimited field: what a pubsub RPC or identify message is made of, with any contents."""
    return bytes([tag]) + bytes([len(body)]) + body


writes = st.tuples(
    st.sampled_from(SERVED_PROTOCOLS),
    st.binary(max_size=300)
    | st.builds(protobuf_field, st.sampled_from([0x0A, 0x12, 0x1A, 0x22, 0x2A]), st.binary(max_size=120))
    | st.lists(st.builds(protobuf_field, st.integers(0, 255), st.binary(max_size=40)), max_size=6).map(
        b"".join
    ),
)


async def test_any_bytes_on_any_protocol_leave_the_node_on_the_network(tmp_path: Path) -> None:
    examples = draw(writes, fuzz_examples(80))
    examples += [(protocol, KNOWN_KILLER) for protocol in SERVED_PROTOCOLS]
    mallory_key = nacl.signing.SigningKey(b"mallory".ljust(32, b"\0"))
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "alice", boot) as alice,
        make_node(tmp_path, "bob", boot) as bob,
        P2PHost(seed=bytes(mallory_key), listen=[LOOPBACK]) as mallory,
    ):
        await bob.follow(alice.peer_id)
        await mallory.connect(bob.listen_addrs[0])
        room = asyncio.Semaphore(IN_FLIGHT)

        async def send(protocol: str, data: bytes) -> None:
            async with room:
                with contextlib.suppress(P2PError):  # refused, reset or unanswered: all fine
                    await mallory.request(bob.peer_id, protocol, data, timeout_s=2)

        await asyncio.gather(*(send(protocol, data) for protocol, data in examples))
        await alice.post("after the fuzz")
        await wait_until(
            lambda: "after the fuzz" in [i.text for i in bob.feed()], what="bob to still get gossip"
        )
        assert await mallory.request(bob.peer_id, SYNC_PROTOCOL_ID, b"\xa0", timeout_s=10)
        assert bob.host.gossip_state()["malformed_streams"] >= 1  # what `status` shows of it
