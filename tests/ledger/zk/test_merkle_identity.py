"""The Python Merkle tree (mirrored on-chain) and listener identities."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree, zero_hashes
from djmesh.ledger.zk.poseidon import hash_pair


def _full_root(leaves: list[int], depth: int) -> int:
    level = leaves + [0] * ((1 << depth) - len(leaves))
    while len(level) > 1:
        level = [hash_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


@pytest.mark.parametrize("count", [0, 1, 2, 3, 5, 8])
def test_incremental_root_equals_full_tree(count: int) -> None:
    leaves = [1000 + n for n in range(count)]
    tree = MerkleTree(leaves, depth=3)
    assert tree.root == _full_root(leaves, 3)
    for index, leaf in enumerate(leaves):
        path = tree.path(index)
        node = leaf
        for sibling, right in zip(path.siblings, path.right_flags, strict=True):
            node = hash_pair(sibling, node) if right else hash_pair(node, sibling)
        assert node == tree.root


def test_full_tree_and_bad_index() -> None:
    tree = MerkleTree([1, 2], depth=1)
    with pytest.raises(OverflowError):
        tree.append(3)
    with pytest.raises(IndexError):
        tree.path(2)
    assert zero_hashes(2)[2] == hash_pair(hash_pair(0, 0), hash_pair(0, 0))


def test_identity_round_trip_is_owner_only(tmp_path: Path) -> None:
    identity = Identity.generate()
    path = tmp_path / "listen.json"
    identity.save(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = Identity.load(path)
    assert loaded == identity
    assert loaded.commitment == hash_pair(identity.nullifier_key, identity.trapdoor)
    assert Identity.generate() != identity


def test_identity_refuses_bad_files_and_values(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"nullifier_key": "0x1"}', encoding="utf-8")
    with pytest.raises(ValueError, match="not a listen identity"):
        Identity.load(path)
    with pytest.raises(ValueError, match="field element"):
        Identity(0, 5)
