"""A battle as the node describes it (``djmesh.node.battle.view.battle_json``) turned into what screens draw.

In-process and attached backends both go through here, so the Battle and Battles screens show
the same figures either way; only the live meters differ (in-process analysis, or none).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from djmesh.node.battle.view import SIDES, battle_room, live_scores, track_now
from djmesh.tui.backend import short
from djmesh.tui.model import BattleView, DjLive

if TYPE_CHECKING:
    from djmesh.node.live.meters import Meter


def battle_view(
    data: dict[str, Any],
    *,
    now_ms: int,
    name_of: Callable[[str], str] = short,
    meter_of: Callable[[str | None], Meter | None] = lambda stream: None,
) -> BattleView:
    """DJ names are the display names the node sent (``names``); ``name_of`` stands in for a node
    too old to send them."""
    scores, _agreed = live_scores(data)
    names = data.get("names") or {}
    sides: dict[str, DjLive] = {}
    for side in SIDES:
        peer = str(data["djs"][side])
        tracklist = (data.get("tracklists") or {}).get(side)
        track, title = track_now(tracklist, int(data["windows"][side][0]), now_ms)
        meter = meter_of(tracklist.get("stream") if tracklist else None)
        sides[side] = DjLive(
            name=str(names.get(side) or name_of(peer)),
            peer_id=peer,
            level_db=meter.level_db if meter else -90.0,
            peak_db=meter.peak_db if meter else -90.0,
            bpm=meter.bpm if meter else None,
            key=meter.key if meter else None,
            camelot=meter.camelot if meter else None,
            beat=meter.beat if meter else False,
            track=track,
            tracks=int(data["tracks"]),
            track_title=title,
            streaming=bool(meter and meter.streaming),
            scores=scores.get(side, {}),
        )
    result = data.get("result")
    deadline = data.get("deadline")
    battle_id = str(data["battle_id"])
    return BattleView(
        battle_id=battle_id,
        title=data.get("title") or "untitled battle",
        genre=str(data["genre"]),
        bpm_range=(int(data["bpm_min"]), int(data["bpm_max"])),
        phase=str(data["phase"]),
        committee_size=int(data["committee_size"]),
        quorum=int(data["quorum"]),
        joined=int(data["joined"]),
        commits=int(data["commits"]),
        reveals=int(data["reveals"]),
        winner=result["winner"] if result else None,
        sides=sides,
        room=battle_room(battle_id),
        offences=tuple(f"{short(o['peer'])}: {o['kind']}" for o in result["offences"]) if result else (),
        seconds_left=max(0, (int(deadline) - now_ms) // 1000) if deadline else None,
        start_at=int(data["start_at"]),
        role=str(data.get("role", "none")),
        can_accept=bool(data.get("can_accept")),
        streams={
            side: str(t["stream"]) for side, t in (data.get("tracklists") or {}).items() if t.get("stream")
        },
        findings=_findings(data.get("findings")),
        other_judge=data.get("can_judge") is False,
    )


def _findings(value: Any) -> dict[str, tuple[str, ...]]:
    """The judge's findings per side (``djmesh.judge`` ``{"a": [{"at_s", "criterion", "text"}], ...}``),
    as the sentences the result shows; anything malformed is left out."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, tuple[str, ...]] = {}
    for side in SIDES:
        items = value.get(side)
        if isinstance(items, list):
            out[side] = tuple(
                f"[{item['criterion']}] {item['text']}"
                for item in items
                if isinstance(item, dict)
                and isinstance(item.get("text"), str)
                and isinstance(item.get("criterion"), str)
            )
    return out
