"""The sender record on pubsub RPCs: its signature checked once per sender and record, still refused when wrong."""

from __future__ import annotations

import asyncio

import libp2p.pubsub.utils as pubsub_utils
import pytest
from libp2p.peer.envelope import Envelope
from libp2p.peer.id import ID
from libp2p.peer.peerstore import env_to_send_in_RPC
from libp2p.pubsub.pb import rpc_pb2

from djmesh.node.p2p import P2PHost
from djmesh.node.p2p.sender_records import consume_sender_record
from tests.node.p2p.conftest import run, seed, sender_and_receiver, wait_for

TOPIC = "djmesh/test/records"


def count_record_checks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count py-libp2p's checks of a signed peer record (each one an Ed25519 verification)."""
    calls = [0]
    check = pubsub_utils.consume_envelope

    def counting(data: bytes, domain: str) -> tuple[Envelope, object]:
        calls[0] += 1
        return check(data, domain)

    monkeypatch.setattr(pubsub_utils, "consume_envelope", counting)
    return calls


def test_a_busy_sender_s_record_is_checked_once_not_per_message(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = count_record_checks(monkeypatch)

    async def main() -> None:
        async with P2PHost(seed=seed(1)) as alice, P2PHost(seed=seed(2)) as bob:
            got = await sender_and_receiver(alice, bob, TOPIC)
            await asyncio.sleep(0.2)
            before = checks[0]
            sent = 60
            for i in range(sent):
                await alice.publish(TOPIC, b"m%d" % i)
            await wait_for(lambda: len(got) == sent)
            # every one of those RPCs carried alice's record; before, each was checked (2 per control RPC)
            assert checks[0] - before <= 2, checks[0] - before

    run(main())


def test_a_record_is_refused_from_another_peer_and_when_forged() -> None:
    async def main() -> None:
        async with P2PHost(seed=seed(3)) as alice, P2PHost(seed=seed(4)) as bob, P2PHost(seed=seed(5)) as eve:
            receiver = bob._running_host()
            record, _ = env_to_send_in_RPC(alice._running_host())
            rpc = rpc_pb2.RPC(senderRecord=record)
            alice_id, eve_id = ID.from_base58(alice.peer_id), ID.from_base58(eve.peer_id)
            assert consume_sender_record(rpc, receiver, alice_id)
            assert consume_sender_record(rpc, receiver, alice_id)  # remembered
            assert not consume_sender_record(rpc, receiver, eve_id)  # eve replays alice's record
            forged = bytearray(record)
            forged[-1] ^= 1  # the signature's last byte
            assert not consume_sender_record(rpc_pb2.RPC(senderRecord=bytes(forged)), receiver, alice_id)
            assert consume_sender_record(rpc_pb2.RPC(), receiver, eve_id)  # no record: nothing to check

    run(main())
