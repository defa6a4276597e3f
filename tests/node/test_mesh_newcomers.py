"""node/mesh_newcomers.py: new mesh peers are named once, and a peer is asked at most once per cooldown."""

from __future__ import annotations

from djmesh.node.mesh_newcomers import MeshNewcomers


def test_new_mesh_peers_are_named_once_per_arrival() -> None:
    newcomers = MeshNewcomers()
    assert newcomers.look("t", ["a", "b"]) == ["a", "b"]
    assert newcomers.look("t", ["a", "b"]) == []
    assert newcomers.look("t", ["b", "c"]) == ["c"]
    assert newcomers.look("t", ["a", "b", "c"]) == ["a"]  # left and came back: a new link
    assert newcomers.look("u", ["a"]) == ["a"]  # per topic
    newcomers.forget("t")
    assert newcomers.look("t", ["a"]) == ["a"]


def test_a_peer_is_asked_once_per_cooldown_and_the_table_is_bounded() -> None:
    newcomers = MeshNewcomers(cooldown_ms=1000, max_peers=3)
    assert newcomers.due("a", 0) and not newcomers.due("a", 999) and newcomers.due("a", 1000)
    for peer in ("b", "c", "d"):
        assert newcomers.due(peer, 1000)
    assert newcomers.due("a", 1001)  # forgotten first (oldest): asked again, which is only a request
