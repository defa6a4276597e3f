"""OBS: switch scenes on battle events through obs-websocket v5 (``djmesh obs connect``).

``cues.BattleCueTracker`` turns battle snapshots into events (no I/O), ``scenes.SceneMap`` picks
a scene per event, ``client.ObsClient`` speaks obs-websocket v5 over aiohttp.
"""

from __future__ import annotations

from djmesh.node.obs.errors import ObsAuthError, ObsError

__all__ = ["ObsAuthError", "ObsError"]
