"""node/unheard.py: which own messages go out once more, when, and how many are kept."""

from __future__ import annotations

from djmesh.node.unheard import MAX_UNHEARD, THIN_MESH, Unheard


def test_a_message_goes_out_once_when_the_mesh_fills_or_grows_past_its_size_at_publish() -> None:
    unheard = Unheard(keep_ms=1000)
    unheard.add("t", b"a", b"wire-a", mesh_size=0, now_ms=0)
    unheard.add("t", b"b", b"wire-b", mesh_size=2, now_ms=0)
    unheard.add("u", b"c", b"wire-c", mesh_size=1, now_ms=0)
    assert unheard.topics() == {"t", "u"}
    assert unheard.ready("t", 0, now_ms=10) == []  # still nobody
    assert unheard.ready("t", 2, now_ms=10) == [b"wire-a"]  # grew past 0; not yet past 2
    assert unheard.ready("t", THIN_MESH, now_ms=10) == [b"wire-b"]
    assert unheard.ready("t", THIN_MESH, now_ms=10) == []  # each once
    assert unheard.ready("u", 1, now_ms=2000) == []  # expired: gossip would not carry it any more
    assert unheard.topics() == set()
    assert Unheard.thin(THIN_MESH - 1) and not Unheard.thin(THIN_MESH)


def test_the_table_is_bounded_oldest_first() -> None:
    unheard = Unheard(keep_ms=10**9)
    for i in range(MAX_UNHEARD + 10):
        unheard.add("t", i.to_bytes(4, "big"), i.to_bytes(4, "big"), mesh_size=0, now_ms=0)
    ready = unheard.ready("t", THIN_MESH, now_ms=1)
    assert len(ready) == MAX_UNHEARD
    assert ready[0] == (10).to_bytes(4, "big")
