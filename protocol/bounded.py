"""A set that forgets its oldest entries: for every table a peer (or a long session) can grow."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

T = TypeVar("T", bound=Hashable)


class BoundedSet(Generic[T]):
    """At most ``capacity`` items; adding one more forgets the least recently added."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[T, None] = OrderedDict()
        self._capacity = capacity

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)

    def add(self, item: T) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)
