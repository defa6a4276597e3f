"""A battle as plain JSON: what the control API answers and the TUI draws, in-process or attached.

One shape for both, so a screen shows the same thing whichever way it reaches the node.
"""

from __future__ import annotations

from typing import Any

from djmesh.node.battle.service import BattleService, BattleState
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.battle import CRITERIA, Phase, Tracklist
from djmesh.protocol.battle import SIDES as SIDES  # re-exported: the sides a battle view has

SHOWN_SCORES = (*CRITERIA, "total")


def deadline_of(state: BattleState) -> int | None:
    """When the current phase ends (ms), if it has a deadline."""
    spec = state.machine.spec
    return {
        Phase.ANNOUNCED: spec.accept_by,
        Phase.ACCEPTED: spec.start_at,
        Phase.SETS: spec.sets_end,
        Phase.COMMIT: spec.commit_by,
        Phase.REVEAL: spec.reveal_by,
    }.get(state.machine.phase)


def my_role(service: BattleService, state: BattleState) -> str:
    """dj-a, dj-b, judge (on the committee), viewer (joined) or none."""
    machine, me = state.machine, service.node.public_key
    for side, key in machine.djs.items():
        if key == me:
            return f"dj-{side}"
    if me in machine.joins:
        judging = machine.phase not in (Phase.ANNOUNCED, Phase.ACCEPTED) and me in machine.committee()
        return "judge" if judging else "viewer"
    return "none"


def can_take(service: BattleService, state: BattleState) -> bool:
    """Whether this node may accept: it is the challenged DJ, or the challenge is open, unbound and not ours."""
    machine, me = state.machine, service.node.public_key
    if machine.spec.is_open:
        return machine.bind is None and machine.announce.author != me
    return machine.spec.opponent == me


def points(scores: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """Verdict scores travel in hundredths; people read points out of 10 (as `djmesh demo --json`)."""
    return {side: {key: value / 100 for key, value in row.items()} for side, row in scores.items()}


def battle_json(service: BattleService, state: BattleState) -> dict[str, Any]:
    machine = state.machine
    spec = machine.spec
    rules = spec.rules
    names = service.node.names
    tracklists: dict[str, Any] = {}
    for side, envelope in machine.tracklists.items():
        message = envelope.message
        if isinstance(message, Tracklist):
            tracklists[side] = {
                "titles": list(message.titles),
                "cues_ms": list(message.cues_ms),
                "stream": message.stream.hex() if message.stream else None,
            }
    result = state.result
    return {
        "battle_id": machine.battle_id.hex(),
        "title": spec.title,
        "genre": rules.genre,
        "bpm_min": rules.bpm_min,
        "bpm_max": rules.bpm_max,
        "tracks": rules.tracks,
        "set_seconds": rules.set_seconds,
        "mode": rules.mode,
        "committee_size": rules.committee_size,
        "quorum": rules.quorum,
        "judge": rules.model.hex(),
        # whether this node runs the judge the rules name; if not it neither joins nor judges (another release)
        "can_judge": service.foreign_judge(machine.battle_id) is None,
        "phase": machine.phase.value,
        # an open challenge's DJ B is "" (named "open") until DJ A's bind fixes it
        "djs": {side: peer_id_from_public_key(key) if key else "" for side, key in machine.djs.items()},
        "names": {side: names.name(key) if key else "open" for side, key in machine.djs.items()},
        "open": spec.is_open,
        "takers": [peer_id_from_public_key(e.author) for e in machine.takers],
        "windows": {side: list(spec.set_window(side)) for side in SIDES},
        "accept_by": spec.accept_by,
        "start_at": spec.start_at,
        "commit_by": spec.commit_by,
        "reveal_by": spec.reveal_by,
        "deadline": deadline_of(state),
        "joined": len(machine.joins),
        "commits": len(machine.commits),
        "reveals": len(machine.reveals),
        "tracklists": tracklists,
        "verdicts": [
            {"peer": peer, "name": names.name(peer), "scores": points(scores)}
            for peer, scores in service.verdicts(machine.battle_id)
        ],
        "result": None
        if result is None
        else {
            "winner": result.winner,
            "forfeit": result.forfeit,
            "scores": points(result.scores or {}),
            "offences": [offence.as_json() for offence in result.offences],
        },
        "findings": state.findings,
        # seconds after the sets' end at which this node passed each step: where a result's seconds went
        "timeline": {step: round(at, 3) for step, at in service.timeline(machine.battle_id).items()},
        "role": my_role(service, state),
        "can_accept": machine.phase is Phase.ANNOUNCED and can_take(service, state),
    }


def battles_json(service: BattleService) -> list[dict[str, Any]]:
    """Every battle this node knows of, the latest start first."""
    states = sorted(service.battles.values(), key=lambda s: -s.machine.spec.start_at)
    return [battle_json(service, state) for state in states]


def battle_room(battle_id: str) -> str:
    """A battle's chat room (the TUI and `djmesh chat battle-...` use the same name)."""
    return f"battle-{battle_id[:16]}"


def live_scores(data: dict[str, Any]) -> tuple[dict[str, dict[str, float]], bool]:
    """The agreed scores (True) once there is a result; until then the mean of the verdicts revealed."""
    result = data.get("result")
    if result and result.get("scores"):
        return {
            side: {k: float(v) for k, v in row.items() if k in SHOWN_SCORES}
            for side, row in result["scores"].items()
        }, True
    verdicts = [v["scores"] for v in data.get("verdicts") or ()]
    if not verdicts:
        return {}, False
    mean = {
        side: {
            key: round(sum(float(v.get(side, {}).get(key, 0)) for v in verdicts) / len(verdicts), 2)
            for key in SHOWN_SCORES
        }
        for side in SIDES
    }
    return mean, False


def track_now(tracklist: dict[str, Any] | None, window_start_ms: int, now_ms: int) -> tuple[int, str]:
    """The declared track playing now (1-based) and its title; 0 before the DJ declared a set."""
    if not tracklist or not tracklist.get("titles"):
        return 0, ""
    titles, cues = tracklist["titles"], tracklist["cues_ms"]
    elapsed = now_ms - window_start_ms
    track = max(1, min(len(titles), sum(1 for cue in cues if cue <= elapsed)))
    return track, str(titles[track - 1])
