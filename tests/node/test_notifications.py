"""Notifications between real nodes on loopback: a challenge and a mention reach the peer they name."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.events import Notification
from djmesh.node.node import Node
from djmesh.protocol.battle import BattleAnnounce, Rules
from djmesh.protocol.messages import Profile
from tests.helpers.network import bootstrap_server, make_node, wait_until

pytestmark = pytest.mark.timeout(180)


async def collect(node: Node, into: list[Notification]) -> None:
    async for event in node.events():
        if isinstance(event, Notification):
            into.append(event)


async def test_a_challenge_and_a_mention_notify_the_peer_they_name(tmp_path: Path) -> None:
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "ada", boot) as ada,
        make_node(tmp_path, "bob", boot) as bob,
        make_node(tmp_path, "carol", boot) as carol,
    ):
        heard: list[Notification] = []
        listening = asyncio.ensure_future(collect(bob, heard))
        try:
            await ada.set_profile(Profile(name="DJ Ada"))
            await bob.follow(ada.peer_id)  # Bob hears Ada's profile; they connect
            await carol.follow(ada.peer_id)
            await wait_until(
                lambda: bob.peer_id in {p.peer_id for p in ada.peers()}, what="Ada connected to Bob"
            )
            await wait_until(lambda: bob.names.name(ada.peer_id) == "DJ Ada", what="Ada's name at Bob")
            await asyncio.sleep(2)  # a GossipSub heartbeat or two: Ada learns Bob's topics (his inbox)

            now = int(time.time() * 1000)
            challenge = await ada.publish(
                BattleAnnounce(
                    opponent=bob.public_key,
                    rules=Rules.for_genre("house", model=JUDGE_PIN),
                    accept_by=now + 60_000,
                    join_by=now + 90_000,
                    start_at=now + 120_000,
                    title="Friday clash",
                )
            )
            await wait_until(lambda: any(n.reason == "challenge" for n in heard), what="the challenge at Bob")
            [event] = [n for n in heard if n.reason == "challenge"]
            assert event.envelope.content_id == challenge.content_id
            assert event.text == "DJ Ada challenges you to a house battle: Friday clash"

            await ada.post("warming up for @bob", mentions=[bob.peer_id])
            await wait_until(lambda: any(n.reason == "mention" for n in heard), what="the mention at Bob")

            listed = bob.notifications()
            assert [n.reason for n in listed] == ["mention", "challenge"]
            assert listed[1].envelope.content_id == challenge.content_id
            assert listed[1].text(bob.names, bob.public_key) == event.text
            # Carol, who is not named, hears of neither
            await asyncio.sleep(1)
            assert carol.notifications() == []
        finally:
            listening.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listening
