"""Control API methods for battles: ``battle_methods(service)`` is merged into the daemon's methods.

Same handler shape as ``node.control``: ``async def handler(node, params) -> JSON-able``. Set
files are paths on the daemon's machine (the control API only listens on 127.0.0.1).

- ``battles``: every battle this node knows of (``node.battle.view.battle_json`` each)
- ``battle_state {battle_id}``: one battle, with the verdicts revealed so far and the result
- ``battle_announce {opponent, set, genre?, title?, tracks?, set_seconds?, start_in_s?, accept_s?,
  committee_size?, commit_seconds?, reveal_seconds?, mode?}``: challenge a peer; ``{"battle_id"}``
- ``battle_accept {battle_id, set}``: accept a challenge made to this node
- ``battle_join {battle_id}``: join as a viewer (and committee candidate)
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

from djmesh.node import control_params as req
from djmesh.node.battle.service import BattleService
from djmesh.node.battle.setfile import LoadedSet, load_set
from djmesh.node.battle.view import battle_json, battles_json
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.node import Node
from djmesh.protocol.battle import GENRES, MAX_COMMITTEE, MAX_TRACKS, Phase, Rules
from djmesh.protocol.errors import ProtocolError

SET_MARGIN_S = 2  # the window is a little longer than the audio, so the last bar is not cut


async def read_set(path: str) -> LoadedSet:
    """Load a set file off the event loop (it opens the audio to check it)."""
    return await asyncio.to_thread(load_set, path)


def announce_rules(params: dict[str, Any], loaded: LoadedSet) -> Rules:
    """The rules of a new battle from the request, with defaults a user would expect."""
    from djmesh.judge import MODEL_SHA256

    genre = req.text(params, "genre", "house")
    if genre not in GENRES:
        raise ControlError(f"unknown genre {genre!r}; one of {', '.join(sorted(GENRES))}")
    audio_s = int(math.ceil(loaded.seconds)) + SET_MARGIN_S if loaded.seconds else None
    if params.get("set_seconds") is None and audio_s is None:
        raise ControlError("the set's audio does not say how long it is: give set_seconds")
    set_seconds = req.integer(params, "set_seconds", audio_s or 0, 10, 4 * 3600)
    mode = req.text(params, "mode", "simultaneous")
    if mode not in Rules.MODES:
        raise ControlError(f"mode must be one of {', '.join(Rules.MODES)}")
    return Rules.for_genre(
        genre,
        tracks=req.integer(params, "tracks", 6, 1, MAX_TRACKS),
        set_seconds=set_seconds,
        model=bytes.fromhex(MODEL_SHA256),
        committee_size=req.integer(params, "committee_size", 4, 1, MAX_COMMITTEE),
        mode=mode,
    )


async def announce(service: BattleService, params: dict[str, Any]) -> bytes:
    """Challenge ``params['opponent']`` with the set file ``params['set']``; the battle ID."""
    opponent = req.text(params, "opponent")
    if opponent == service.node.peer_id:
        raise ControlError("you cannot challenge yourself")
    loaded = await read_set(req.text(params, "set"))
    rules = announce_rules(params, loaded)
    start_in_s = req.number(params, "start_in_s", 60.0, 5.0, 7 * 24 * 3600)
    assert start_in_s is not None
    accept_s = req.number(params, "accept_s", None, 1.0, start_in_s)
    title = params.get("title") or ""
    if not isinstance(title, str) or len(title) > 128:
        raise ControlError("title must be text of at most 128 characters")
    try:
        return await service.announce(
            opponent,
            loaded.dj_set,
            rules=rules,
            start_in_s=start_in_s,
            accept_s=accept_s,
            commit_seconds=req.integer(params, "commit_seconds", 30, 1, 86400),
            reveal_seconds=req.integer(params, "reveal_seconds", 30, 1, 86400),
            title=title,
        )
    except (ProtocolError, ValueError) as exc:
        raise ControlError(f"cannot announce: {exc}") from exc


async def accept(service: BattleService, params: dict[str, Any]) -> bytes:
    battle_id = req.hex32(params, "battle_id")
    state = service.battles.get(battle_id)
    if state is None:
        raise ControlError(f"unknown battle {battle_id.hex()}")
    if state.machine.phase is not Phase.ANNOUNCED:
        raise ControlError(f"the battle is {state.machine.phase.value}: it can no longer be accepted")
    loaded = await read_set(req.text(params, "set"))
    await service.accept(battle_id, loaded.dj_set)
    return battle_id


def battle_methods(service: BattleService) -> dict[str, Handler]:
    """The battle methods, bound to the daemon's ``BattleService``."""

    async def _battles(node: Node, params: dict[str, Any]) -> Any:
        return battles_json(service)

    async def _battle_state(node: Node, params: dict[str, Any]) -> Any:
        battle_id = req.hex32(params, "battle_id")
        state = service.battles.get(battle_id)
        if state is None:
            raise ControlError(f"unknown battle {battle_id.hex()}")
        return battle_json(service, state)

    async def _battle_announce(node: Node, params: dict[str, Any]) -> Any:
        return {"battle_id": (await announce(service, params)).hex()}

    async def _battle_accept(node: Node, params: dict[str, Any]) -> Any:
        return {"battle_id": (await accept(service, params)).hex(), "accepted": True}

    async def _battle_join(node: Node, params: dict[str, Any]) -> Any:
        battle_id = req.hex32(params, "battle_id")
        if battle_id not in service.battles:
            raise ControlError(f"unknown battle {battle_id.hex()}")
        try:
            await service.join(battle_id)
        except NodeError as exc:
            raise ControlError(str(exc)) from exc
        return {"battle_id": battle_id.hex(), "joined": True}

    return {
        "battles": _battles,
        "battle_state": _battle_state,
        "battle_announce": _battle_announce,
        "battle_accept": _battle_accept,
        "battle_join": _battle_join,
    }
