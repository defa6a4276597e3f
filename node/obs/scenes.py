"""Which OBS scene each battle event switches to: ``--scene EVENT=SCENE`` flags or a TOML file.

[scenes]
announced = "Battle intro"
started = "Decks"
ended = "Judging"
result = "Winner"
result_a = "Winner A"   # optional: per winning side, before ``result``
cancelled = "Lobby"
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from djmesh.node.obs.cues import EVENTS, BattleCue
from djmesh.node.obs.errors import ObsError

KEYS = (*EVENTS, "result_a", "result_b")


@dataclass(frozen=True)
class SceneMap:
    scenes: dict[str, str] = field(default_factory=dict)

    def scene_for(self, cue: BattleCue) -> str | None:
        if cue.event == "result" and cue.winner:
            return self.scenes.get(f"result_{cue.winner}") or self.scenes.get("result")
        return self.scenes.get(cue.event)

    def names(self) -> set[str]:
        return set(self.scenes.values())


def _check(key: str, scene: object, where: str) -> str:
    if key not in KEYS:
        raise ObsError(f"{where}: unknown battle event {key!r} (events: {', '.join(KEYS)})")
    if not isinstance(scene, str) or not scene.strip():
        raise ObsError(f"{where}: the scene for {key} must be a non-empty name")
    return scene


def scene_map(flags: Iterable[str] = (), file: Path | str | None = None) -> SceneMap:
    """Flags win over the file; an empty map is refused (the bridge would do nothing)."""
    scenes: dict[str, str] = {}
    if file is not None:
        try:
            data = tomllib.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ObsError(f"{file}: cannot read the scene map: {exc}") from exc
        table = data.get("scenes")
        if set(data) != {"scenes"} or not isinstance(table, dict):
            raise ObsError(f'{file}: expected one [scenes] table (event = "scene name")')
        for key, scene in table.items():
            scenes[key] = _check(key, scene, str(file))
    for flag in flags:
        key, sep, scene = flag.partition("=")
        if not sep:
            raise ObsError(f"--scene {flag!r}: expected EVENT=SCENE")
        scenes[key.strip()] = _check(key.strip(), scene.strip(), f"--scene {flag!r}")
    if not scenes:
        raise ObsError("no scenes mapped: pass --scene EVENT=SCENE or --scenes FILE")
    return SceneMap(scenes)
