"""The per-battle Merkle tree of identity commitments, mirroring ListenGate's on-chain incremental tree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from djmesh.ledger.zk.params import TREE_DEPTH
from djmesh.ledger.zk.poseidon import hash_pair


@cache
def zero_hashes(depth: int = TREE_DEPTH) -> tuple[int, ...]:
    """zero_hashes[i] = root of an empty subtree of height i (empty leaves are 0)."""
    zeros = [0]
    for _ in range(depth):
        zeros.append(hash_pair(zeros[-1], zeros[-1]))
    return tuple(zeros)


@dataclass(frozen=True)
class MerklePath:
    leaf_index: int
    siblings: tuple[int, ...]
    right_flags: tuple[int, ...]  # 1 where the running node is the right child


class MerkleTree:
    """Append-only tree; rebuilt by listeners from the contract's Registered events."""

    def __init__(self, leaves: Iterable[int] = (), depth: int = TREE_DEPTH) -> None:
        self.depth = depth
        self._levels: list[list[int]] = [[] for _ in range(depth + 1)]
        for leaf in leaves:
            self.append(leaf)

    def __len__(self) -> int:
        return len(self._levels[0])

    def append(self, leaf: int) -> int:
        if len(self) >= 1 << self.depth:
            raise OverflowError(f"tree of depth {self.depth} is full")
        index = len(self)
        self._levels[0].append(leaf)
        node, position = leaf, index
        zeros = zero_hashes(self.depth)
        for level in range(self.depth):
            parent = position // 2
            row = self._levels[level]
            node = hash_pair(node, zeros[level]) if position % 2 == 0 else hash_pair(row[position - 1], node)
            above = self._levels[level + 1]
            if parent < len(above):
                above[parent] = node
            else:
                above.append(node)
            position = parent
        return index

    @property
    def root(self) -> int:
        return self._levels[self.depth][0] if len(self) else zero_hashes(self.depth)[self.depth]

    def path(self, leaf_index: int) -> MerklePath:
        if not 0 <= leaf_index < len(self):
            raise IndexError(f"no leaf {leaf_index} in a tree of {len(self)}")
        zeros = zero_hashes(self.depth)
        siblings, flags = [], []
        position = leaf_index
        for level in range(self.depth):
            sibling = position ^ 1
            row = self._levels[level]
            siblings.append(row[sibling] if sibling < len(row) else zeros[level])
            flags.append(position & 1)
            position //= 2
        return MerklePath(leaf_index, tuple(siblings), tuple(flags))

    def index_of(self, leaf: int) -> int:
        return self._levels[0].index(leaf)
