"""`djmesh battle` input checks that run before anything is sent: peer names and sets that do not fit."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from djmesh.node.battle.commands import check_set_fits, resolve_peer
from djmesh.node.battle.service import DjSet
from djmesh.node.battle.setfile import LoadedSet
from djmesh.node.errors import NodeError
from djmesh.node.names import PeerNames
from djmesh.node.store import Store
from djmesh.protocol.battle import Rules
from djmesh.protocol.envelope import sign
from djmesh.protocol.messages import Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from tests.helpers.network import bootstrap_server, make_node
from tests.protocol.battle_helpers import key


def _services(store: Store) -> Any:
    """What ``resolve_peer`` reads of a node's services: its peer names (no peer connected)."""
    return SimpleNamespace(node=SimpleNamespace(names=PeerNames(store), peers=list))


async def test_a_peer_is_found_by_a_name_only_one_peer_claims(tmp_path: Path) -> None:
    with Store(tmp_path / "s.db") as store:
        for n, name in ((1, "DJ Ada"), (2, "dj ada"), (3, "DJ Bea")):
            store.add(sign(Profile(name=name), key(n), created_at_ms=1_700_000_000_000))
        services = _services(store)
        bea = peer_id_from_public_key(bytes(key(3).verify_key))
        assert await resolve_peer(services, "dj bea") == bea
        assert await resolve_peer(services, bea) == bea  # a peer ID is taken as it is
        with pytest.raises(NodeError, match=r"2 peers are called 'DJ Ada'.*give the peer ID"):
            await resolve_peer(services, "DJ Ada")
        with pytest.raises(NodeError, match="no known peer is called 'Cee'"):
            await resolve_peer(services, "Cee")


async def test_a_connected_peer_is_found_by_a_name_this_node_never_heard(tmp_path: Path) -> None:
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "ada", boot) as ada,
        make_node(tmp_path, "bea", boot) as bea,
    ):
        await bea.set_profile(Profile(name="DJ Bea"))
        await ada.connect(bea.listen_addrs[0])
        assert ada.names.find("DJ Bea") == []  # never shown, never fetched
        services = SimpleNamespace(node=ada)
        assert await resolve_peer(services, "dj bea") == bea.peer_id  # asked once, then found
        # she renames herself: Ada does not follow her, so only asking again tells her
        await bea.set_profile(Profile(name="Bea the Bold"))
        assert ada.names.claimed(bea.peer_id) == "DJ Bea"
        assert await resolve_peer(services, "bea the bold") == bea.peer_id
        with pytest.raises(NodeError, match="no known peer is called 'Cee'"):
            await resolve_peer(services, "Cee")


def test_a_set_must_fit_the_rules_tracks_and_length() -> None:
    rules = Rules.for_genre("house", tracks=2, set_seconds=60, model=bytes(32))
    check_set_fits(LoadedSet(DjSet("a.wav", ("one", "two"), (0, 30_000)), 59.0), rules)
    with pytest.raises(NodeError, match="declares 3 tracks but the battle allows 2"):
        check_set_fits(LoadedSet(DjSet("a.wav", ("1", "2", "3"), (0, 1, 2)), 59.0), rules)
    with pytest.raises(NodeError, match="last cue is at 61 s, past the battle's 60 s"):
        check_set_fits(LoadedSet(DjSet("a.wav", ("one", "two"), (0, 61_000)), 90.0), rules)
