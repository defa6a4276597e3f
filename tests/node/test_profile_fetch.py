"""A node learns the names of peers it shows but does not follow, and refuses answers it did not ask for."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from djmesh.node import profile_fetch
from djmesh.node.names import short_id
from djmesh.node.profile_fetch import BATCH_DELAY_S, FIRST_RETRY_S
from djmesh.protocol.envelope import sign
from djmesh.protocol.messages import Post, Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.profiles import PROFILE_PROTOCOL_ID, ProfileResponse
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.protocol.battle_helpers import key

pytestmark = pytest.mark.timeout(120)


async def test_a_peer_shown_without_a_profile_is_asked_for_it(tmp_path: Path) -> None:
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "ada", boot) as ada,
        make_node(tmp_path, "bob", boot) as bob,
    ):
        await ada.set_profile(Profile(name="DJ Ada"))
        await ada.post("only for followers")
        await bob.connect(ada.listen_addrs[0])
        assert bob.names.name(ada.peer_id) == short_id(ada.peer_id)  # not followed: no profile yet...
        await wait_until(lambda: bob.names.name(ada.peer_id) == "DJ Ada", what="Ada's name at Bob")
        assert bob.profile(ada.peer_id) is not None
        assert bob.store.count(kind="post") == 0  # ...only the profile was fetched, not her posts


async def test_a_peer_without_a_profile_when_first_asked_is_asked_again_soon(tmp_path: Path) -> None:
    """Nodes started together: Bob shows Ada before she has set her name; he learns it seconds after she
    does (asked again after FIRST_RETRY_S, doubling), not RETRY_S later."""
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "ada", boot) as ada,
        make_node(tmp_path, "bob", boot) as bob,
    ):
        await bob.connect(ada.listen_addrs[0])
        assert bob.names.name(ada.peer_id) == short_id(ada.peer_id)  # asked for: she has no profile yet
        await asyncio.sleep(BATCH_DELAY_S)
        await wait_until(lambda: not bob.profiles._flushing, what="the first ask answered")
        assert bob.profile(ada.peer_id) is None
        await ada.set_profile(Profile(name="DJ Ada"))
        await wait_until(
            lambda: bob.names.name(ada.peer_id) == "DJ Ada", timeout=FIRST_RETRY_S * 4, what="her name"
        )


async def test_a_peer_not_followed_that_renames_itself_is_shown_by_its_new_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Profile updates are gossiped to followers only: Bob showed Ada's first name for ever."""
    monkeypatch.setattr(profile_fetch, "REFRESH_S", 1.0)
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "ada", boot) as ada,
        make_node(tmp_path, "bob", boot) as bob,
        make_node(tmp_path, "cy", boot) as cy,
    ):
        await ada.set_profile(Profile(name="DJ Ada"))
        await cy.set_profile(Profile(name="DJ Cy"))
        await bob.follow(cy.peer_id)
        await bob.connect(ada.listen_addrs[0])
        await bob.connect(cy.listen_addrs[0])
        bob.names.name(ada.peer_id)
        await wait_until(lambda: bob.names.name(ada.peer_id) == "DJ Ada", what="Ada's first name at Bob")
        # Cy is followed (her updates come by gossip), Ada is not: only Ada is asked again
        await wait_until(
            lambda: bob.profiles.stale_names() == [ada.peer_id], what="Ada, and only her, to refresh"
        )
        await ada.set_profile(Profile(name="DJ Ada Two"))
        await wait_until(lambda: bob.names.name(ada.peer_id) == "DJ Ada Two", what="Ada's new name at Bob")


async def test_a_profile_answer_holding_anything_else_is_dropped(tmp_path: Path) -> None:
    now = int(time.time() * 1000)
    ada, eve = key(1), key(2)
    ada_id = peer_id_from_public_key(bytes(ada.verify_key))
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "mallory", boot) as mallory,
        make_node(tmp_path, "bob", boot) as bob,
    ):
        planted = [
            sign(Profile(name="DJ Ada"), eve, created_at_ms=now).wire,  # someone else's profile
            sign(Post("DJ Ada says hi"), ada, created_at_ms=now).wire,  # Ada's, but not a profile
            b"\xa0",  # not an envelope
        ]

        async def lie(data: bytes, peer: str) -> bytes:
            return ProfileResponse(tuple(planted)).encode()

        mallory.host.set_request_handler(PROFILE_PROTOCOL_ID, lie, max_request_bytes=1024)  # a liar
        await bob.connect(mallory.listen_addrs[0])
        await wait_until(lambda: mallory.peer_id in {p.peer_id for p in bob.peers()}, what="connected")
        assert await bob.profiles.fetch([ada_id]) == 0
        assert bob.store.count() == 0 and bob.names.claimed(ada_id) == ""
        assert bob.dropped.get("WrongTopic", 0) == 2 and bob.dropped.get("MalformedMessageError", 0) == 1
