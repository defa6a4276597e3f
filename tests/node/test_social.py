"""The social service (``node.social``) on a real node: what ``Node``'s delegates and the TUI rely on."""

from __future__ import annotations

from pathlib import Path

from djmesh.node.identity import load_identity
from djmesh.node.node import NodeOptions
from djmesh.node.services import NodeServices
from djmesh.protocol.messages import Profile
from djmesh.protocol.topics import author_topic
from tests.helpers.network import LOOPBACK, make_home, make_node


async def test_update_profile_changes_what_is_given_and_keeps_the_rest(tmp_path: Path) -> None:
    async with NodeServices(
        make_home(tmp_path, "dj"), options=NodeOptions(listen=[LOOPBACK], bootstrap=[])
    ) as s:
        assert s.social is s.node.social
        await s.node.set_profile(Profile(name="DJ One", bio="old", links=("https://example.org/dj",)))
        await s.social.update_profile(bio="new bio")
        found = s.node.profile()
        assert found is not None
        profile, _updated = found
        assert (profile.name, profile.bio, profile.links) == (
            "DJ One",
            "new bio",
            ("https://example.org/dj",),
        )
        await s.social.update_profile(name="DJ Two")
        found = s.node.profile()
        assert found is not None and (found[0].name, found[0].bio) == ("DJ Two", "new bio")


async def test_unfollow_keeps_a_topic_the_user_subscribed_to(tmp_path: Path) -> None:
    other = make_home(tmp_path, "other")
    peer = load_identity(other.key_file)
    async with make_node(tmp_path, "me", []) as node:
        topic = author_topic(peer.public_key)
        await node.join_topic(topic, sync=False)
        await node.follow(peer.peer_id)
        await node.unfollow(peer.peer_id)
        assert topic in node.store.subscriptions()
        assert peer.public_key not in node.view.following()
