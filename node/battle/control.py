"""Control API methods for battles: ``battle_methods(service)`` is merged into the daemon's methods.

Same handler shape as ``node.control``: ``async def handler(node, params) -> JSON-able``. Set
files are paths on the daemon's machine (the control API only listens on 127.0.0.1).

- ``battles``: every battle this node knows of (``node.battle.view.battle_json`` each)
- ``battle_state {battle_id}``: one battle, with the verdicts revealed so far and the result
- ``battle_announce {opponent, set, genre?, title?, tracks?, set_seconds?, start_in_s?, accept_s?,
  committee_size?, commit_seconds?, reveal_seconds?, mode?}``: challenge a peer; ``{"battle_id"}``
- ``battle_accept {battle_id, set}``: accept a challenge made to this node
- ``battle_join {battle_id}``: join as a viewer (and committee candidate)

On a node built by ``node.services`` (the daemon), also (`djmesh battle ...`):

- ``battle_challenge {peer|open: true, set|live, genre?, tracks?, set_seconds?, start_in_s?, mode?, prize_wei?,
  crowd_weight?, accept_s?, commit_seconds?, reveal_seconds?, committee_size?, title?}``: ``peer``
  is a peer ID or a profile name exactly one known peer claims; ``open`` posts a challenge any DJ may
  take (no prize: the escrow names the opponent when it is opened); ``{"battle_id"}``
- ``battle_accept {battle_id, set|live}``: also stakes the challenger's prize; ``{battle_id, accepted,
  stake_wei}``; for an open challenge it is an offer (``"open": true``) until the challenger binds it
- ``battle_sponsor {battle_id, amount_wei}``: ``{battle_id, tx, amount_wei}``
- ``battle_show {battle_id}``: ``battle_state`` plus ``committee``, ``prize`` and ``payout`` (``{tx, to,
  amount_wei}`` once paid, else null)
"""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING, Any

from djmesh.node import control_params as req
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.battle.setfile import LoadedSet, load_set
from djmesh.node.battle.view import battle_json, battles_json
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.live.stdin_pipe import is_stdin
from djmesh.node.node import Node
from djmesh.protocol.battle import GENRES, MAX_COMMITTEE, MAX_TRACKS, Phase, Rules
from djmesh.protocol.errors import ProtocolError

if TYPE_CHECKING:
    from djmesh.node.services import NodeServices

SET_MARGIN_S = 2  # the window is a little longer than the audio, so the last bar is not cut


async def read_set(path: str) -> LoadedSet:
    """Load a set file off the event loop (it opens the audio to check it)."""
    return await asyncio.to_thread(load_set, path)


LIVE_TITLE = "Live set"


async def set_or_live(params: dict[str, Any]) -> LoadedSet:
    """``set`` (a set file, checked now) or ``live`` (a source as `live start` takes: sound card, JACK,
    a FIFO, ...): played live from the set window's start for the rules' set length, one declared
    track; track changes are marked as they happen (``live_cue``, from MIDI or a key press)."""
    if (params.get("set") is None) == (params.get("live") is None):
        raise ControlError("give either set (a set file) or live (a source to play live), not both")
    if params.get("live") is not None:
        source = req.text(params, "live")
        if is_stdin(source):
            raise ControlError(
                "--live - would read the node's own stdin when the set starts: play from a sound card, JACK "
                "or a FIFO made with mkfifo (e.g. `mkfifo deck.pcm; --live deck.pcm`)"
            )
        return LoadedSet(DjSet(source, (LIVE_TITLE,), (0,)), 0.0)
    return await read_set(req.text(params, "set"))


def announce_rules(params: dict[str, Any], loaded: LoadedSet) -> Rules:
    """The rules of a new battle from the request, with defaults a user would expect."""
    from djmesh.judge import JUDGE_PIN

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
        model=JUDGE_PIN,
        committee_size=req.integer(params, "committee_size", 4, 1, MAX_COMMITTEE),
        mode=mode,
        crowd_weight_permille=_crowd_weight_permille(params),
    )


def _crowd_weight_permille(params: dict[str, Any]) -> int:
    """``crowd_weight``: the share (0..1) of the total the crowd's votes decide."""
    weight = req.number(params, "crowd_weight", 0.0, 0.0, 1.0)
    return int(round((weight or 0.0) * 1000))


def wei(params: dict[str, Any], name: str) -> int:
    """An amount of wei: decimal text (it does not fit a JSON double) or an integer; at least 0."""
    value = params.get(name, 0)
    try:
        amount = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    except ValueError:
        amount = -1
    if amount < 0:
        raise ControlError(f"{name} must be a whole number of wei (decimal text)")
    return amount


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


def battle_methods(service: BattleService, services: NodeServices | None = None) -> dict[str, Handler]:
    """The battle methods, bound to a ``BattleService`` (and, given ``services``, the `djmesh battle` ones)."""

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

    methods: dict[str, Handler] = {
        "battles": _battles,
        "battle_state": _battle_state,
        "battle_announce": _battle_announce,
        "battle_accept": _battle_accept,
        "battle_join": _battle_join,
    }
    if services is not None:
        methods.update(command_methods(services))
    return methods


def command_methods(services: NodeServices) -> dict[str, Handler]:
    """The `djmesh battle` methods: prizes, sponsors, names for peers (``node.battle.commands``)."""
    from djmesh.node.battle.commands import OPEN_PRIZE_REFUSAL, BattleCommands

    commands = BattleCommands(services)

    async def _challenge(node: Node, params: dict[str, Any]) -> Any:
        is_open = params.get("open") is True
        peer = None if is_open else req.text(params, "peer")
        if is_open and params.get("peer") is not None:
            raise ControlError("an open challenge names no peer: give either peer or open")
        prize = wei(params, "prize_wei")
        if prize > 0 and is_open:
            raise ControlError(OPEN_PRIZE_REFUSAL)
        if prize > 0:
            services.need_ledger("a prize")  # before the set is even read
        loaded = await set_or_live(params)
        rules = announce_rules(params, loaded)
        start_in_s = req.number(params, "start_in_s", 60.0, 5.0, 7 * 24 * 3600)
        assert start_in_s is not None
        title = params.get("title") or ""
        if not isinstance(title, str) or len(title) > 128:
            raise ControlError("title must be text of at most 128 characters")
        battle_id = await commands.challenge(
            peer,
            loaded,
            rules=rules,
            start_in_s=start_in_s,
            prize_wei=prize,
            accept_s=req.number(params, "accept_s", None, 1.0, start_in_s),
            commit_seconds=req.integer(params, "commit_seconds", 30, 1, 86400),
            reveal_seconds=req.integer(params, "reveal_seconds", 30, 1, 86400),
            title=title,
        )
        return {"battle_id": battle_id.hex()}

    async def _accept(node: Node, params: dict[str, Any]) -> Any:
        battle_id = req.hex32(params, "battle_id")
        commands.state(battle_id)  # an unknown battle before the set is read
        return await commands.accept(battle_id, await set_or_live(params))

    async def _sponsor(node: Node, params: dict[str, Any]) -> Any:
        return await commands.sponsor(req.hex32(params, "battle_id"), wei(params, "amount_wei"))

    async def _show(node: Node, params: dict[str, Any]) -> Any:
        return await commands.show(req.hex32(params, "battle_id"))

    return {
        "battle_challenge": _challenge,
        "battle_accept": _accept,
        "battle_sponsor": _sponsor,
        "battle_show": _show,
    }
