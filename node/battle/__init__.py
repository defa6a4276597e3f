"""Battles on a running node: DJs stream their sets, committee members judge and agree.

Names are resolved lazily so that ``djmesh vote`` (``djmesh.node.battle.vote_cli``) registers
without importing the live audio and networking stacks.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.node.battle.service import BattleService

__all__ = ["BattleService"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(import_module("djmesh.node.battle.service"), name)
    raise AttributeError(f"module 'djmesh.node.battle' has no attribute {name!r}")
