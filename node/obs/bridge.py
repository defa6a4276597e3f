"""Battle events -> OBS scenes: polls battle snapshots, switches the program scene on each event."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from djmesh.node.clock import monotonic, sleep
from djmesh.node.obs.client import ObsClient
from djmesh.node.obs.cues import BattleCueTracker
from djmesh.node.obs.errors import ObsAuthError, ObsError
from djmesh.node.obs.scenes import SceneMap

Snapshots = Callable[[], Awaitable[list[dict[str, Any]]]]


def service_snapshots(service: Any) -> Snapshots:
    """Snapshots of an in-process ``BattleService`` (the shape the control method ``battles`` answers)."""

    async def read() -> list[dict[str, Any]]:
        out = []
        for battle_id, state in list(service.battles.items()):
            machine = state.machine
            result = machine.result
            out.append(
                {
                    "battle_id": battle_id.hex(),
                    "title": machine.spec.title,
                    "phase": machine.phase.value,
                    "result": None if result is None else {"winner": result.winner},
                }
            )
        return out

    return read


async def check_scenes(client: ObsClient, scenes: SceneMap) -> None:
    """Refuse a mapping that names scenes OBS does not have (a typo would fail mid-battle)."""
    known = await client.scene_names()
    missing = sorted(scenes.names() - set(known))
    if missing:
        raise ObsError(
            f"OBS has no scene {', '.join(map(repr, missing))} (it has: {', '.join(known) or 'none'})"
        )


async def run_obs_bridge(
    client: ObsClient,
    snapshots: Snapshots,
    scenes: SceneMap,
    *,
    battle_id: str | None = None,
    seconds: float | None = None,
    poll_s: float = 0.25,
    emit: Callable[[dict[str, Any]], None] = lambda line: None,
) -> int:
    """Until ``seconds`` pass (or forever); returns how many scene switches OBS accepted."""
    tracker = BattleCueTracker(battle_id)
    deadline = None if seconds is None else monotonic() + seconds
    switched = 0
    while True:
        for cue in tracker.update(await snapshots()):
            scene = scenes.scene_for(cue)
            line: dict[str, Any] = {"event": cue.event, "battle_id": cue.battle_id, "scene": scene}
            if cue.winner:
                line["winner"] = cue.winner
            if scene is not None:
                try:
                    await client.set_scene(scene)
                    line["ok"] = True
                    switched += 1
                except ObsAuthError:
                    raise
                except ObsError as exc:
                    line.update(ok=False, error=str(exc))
            emit(line)
        if deadline is not None and monotonic() >= deadline:
            return switched
        await sleep(poll_s if deadline is None else max(0.0, min(poll_s, deadline - monotonic())))
