"""Battles on a running node: DJs stream their sets, committee members judge and agree."""

from djmesh.node.battle.service import BattleService, Liar

__all__ = ["BattleService", "Liar"]
