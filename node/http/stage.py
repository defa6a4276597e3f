"""What the overlay and listener pages show: one battle (or stream) with its live figures, as JSON.

A snapshot is cheap to make and cached for a moment, so any number of pages polling or
subscribed to events cost about one snapshot per ``CACHE_S``. Live figures (BPM, key, level)
come from ``djmesh.node.live.meters``, the same analysis the TUI draws; a stream is analysed
only once somebody looks at it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from djmesh.node.battle.service import BattleService, BattleState
from djmesh.node.battle.view import battle_json, battle_room, live_scores, track_now
from djmesh.node.clock import monotonic, now_ms
from djmesh.node.errors import NodeError
from djmesh.node.live.meters import Meter, MeterBank, figures
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node
from djmesh.node.tasks import BackgroundTasks
from djmesh.protocol.battle import SIDES, Phase, Tracklist
from djmesh.protocol.messages import Chat, Reaction
from djmesh.protocol.topics import room_topic

log = logging.getLogger(__name__)

CACHE_S = 0.2
CHAT_LINES = 8
RECENT_REACTIONS = 6
REACTIONS_SCAN = 500
_PHASE_RANK = {
    Phase.SETS: 5,
    Phase.COMMIT: 4,
    Phase.REVEAL: 4,
    Phase.ACCEPTED: 3,
    Phase.DONE: 2,
    Phase.ANNOUNCED: 1,
    Phase.CANCELLED: 0,
}


class SelectionError(ValueError):
    """A query naming a battle or stream that is not 64 hex digits."""


def _digest(name: str, value: str | None) -> bytes | None:
    if value is None or value == "":
        return None
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise SelectionError(f"{name} must be 64 hex digits")
    return raw


@dataclass(frozen=True)
class Selection:
    """Which battle or stream a page shows; neither: the battle on now (else our own live streams)."""

    battle: bytes | None = None
    stream: bytes | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> Selection:
        return cls(_digest("battle", query.get("battle")), _digest("stream", query.get("stream")))


class Stage:
    def __init__(
        self,
        node: Node,
        *,
        live: LiveService | None = None,
        battles: BattleService | None = None,
        meters: MeterBank | None = None,
    ) -> None:
        self.node = node
        self.live = live
        self.battles = battles
        self.meters = meters if meters is not None else (MeterBank.of(live, self._alert) if live else None)
        self._owns_meters = meters is None and self.meters is not None
        self._cache: dict[Selection, tuple[float, dict[str, Any]]] = {}
        self._rooms: set[str] = set()
        self._tasks = BackgroundTasks("http stage")

    async def close(self) -> None:
        await self._tasks.cancel_all()
        if self._owns_meters and self.meters is not None:
            await self.meters.close()

    def _alert(self, severity: str, text: str) -> None:
        log.info("overlay: %s", text)

    # -- names and figures ---------------------------------------------------------------------

    def name_of(self, peer_id: str) -> str:
        """A peer's display name (``djmesh.node.names``: its profile name, a short ID where needed)."""
        return self.node.names.name(peer_id)

    def standing(self, peer_id: str, genre: str) -> dict[str, Any]:
        """The DJ's ``rating``, ``tier``, ``wins``, ``losses`` and ``draws`` in ``genre`` (nulls: unrated)."""
        try:
            row = self.node.record(peer_id)["genres"].get(genre)
        except NodeError:
            row = None
        keys = ("rating", "tier", "wins", "losses", "draws")
        return {key: row[key] for key in keys} if row else dict.fromkeys(keys)

    def watch(self, stream_id: str, label: str) -> Meter | None:
        """Start analysing ``stream_id`` (idempotent); None where this node has no live service."""
        if self.meters is None:
            return None
        return self.meters.watch(stream_id, label)

    def meter(self, stream_id: str | None) -> Meter | None:
        return self.meters.meters.get(stream_id) if self.meters is not None and stream_id else None

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(self, selection: Selection = Selection()) -> dict[str, Any]:
        now = monotonic()
        cached = self._cache.get(selection)
        if cached is not None and now - cached[0] < CACHE_S:
            return cached[1]
        value = self._build(selection)
        if len(self._cache) > 64:
            self._cache.clear()
        self._cache[selection] = (now, value)
        return value

    def _build(self, selection: Selection) -> dict[str, Any]:
        wall_ms = now_ms()
        out: dict[str, Any] = {
            "node": self.node.peer_id,
            "battle": None,
            "djs": [],
            "stream": None,
            "chat": [],
            "reactions": {"counts": {}, "votes": {"a": 0, "b": 0}, "recent": []},
            "error": None,
        }
        state: BattleState | None = None
        if selection.stream is not None:
            out["stream"] = self._stream_json(selection.stream.hex())
            if out["stream"] is None:
                out["error"] = "unknown stream"
            state = self._battle_of_stream(selection.stream.hex())
        elif selection.battle is not None:
            state = self.battles.battles.get(selection.battle) if self.battles else None
            if state is None:
                out["error"] = "unknown battle"
        else:
            state = self._current_battle()
        if state is not None and self.battles is not None:
            data = battle_json(self.battles, state)
            out["battle"], out["djs"] = self._battle_figures(data, state, wall_ms)
            room = battle_room(data["battle_id"])
            out["chat"] = self._chat(room)
            out["reactions"] = self._reactions(state)
            self._join_room(room)
        elif selection.battle is None and selection.stream is None:
            out["djs"] = self._own_streams()
        return out

    def _current_battle(self) -> BattleState | None:
        if self.battles is None or not self.battles.battles:
            return None
        return max(
            self.battles.battles.values(),
            key=lambda s: (_PHASE_RANK.get(s.machine.phase, 0), s.machine.spec.start_at),
        )

    def _battle_of_stream(self, stream_id: str) -> BattleState | None:
        if self.battles is None:
            return None
        for state in self.battles.battles.values():
            for envelope in state.machine.tracklists.values():
                message = envelope.message
                if isinstance(message, Tracklist) and message.stream and message.stream.hex() == stream_id:
                    return state
        return None

    def _battle_figures(
        self, data: dict[str, Any], state: BattleState, now_ms: int
    ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        scores, final = live_scores(data)
        result = data.get("result")
        deadline = data.get("deadline")
        battle = {
            "battle_id": data["battle_id"],
            "title": data["title"] or "battle",
            "genre": data["genre"],
            "bpm_min": data["bpm_min"],
            "bpm_max": data["bpm_max"],
            "phase": data["phase"],
            "deadline": deadline,
            "seconds_left": max(0, (int(deadline) - now_ms) // 1000) if deadline else None,
            "committee_size": data["committee_size"],
            "quorum": data["quorum"],
            "joined": data["joined"],
            "commits": data["commits"],
            "reveals": data["reveals"],
            "winner": result["winner"] if result else None,
            "winner_name": self.name_of(str(data["djs"][result["winner"]])) if result else None,
            "forfeit": result["forfeit"] if result else None,
            "scores_final": final,
        }
        djs = []
        for side in SIDES:
            peer = str(data["djs"][side])
            tracklist = (data.get("tracklists") or {}).get(side)
            stream = tracklist.get("stream") if tracklist else None
            if stream and not state.done.is_set():
                self.watch(stream, f"DJ {side.upper()}")
            track, title = track_now(tracklist, int(data["windows"][side][0]), now_ms)
            djs.append(
                {
                    "side": side,
                    "peer": peer,
                    "name": self.name_of(peer),
                    **self.standing(peer, str(data["genre"])),
                    "stream": stream,
                    **figures(self.meter(stream)),
                    "track": track,
                    "tracks": data["tracks"],
                    "track_title": title,
                    "scores": scores.get(side, {}),
                }
            )
        return battle, djs

    def _own_streams(self) -> list[dict[str, Any]]:
        """With no battle: this node's own live streams (never a remote one: that would subscribe)."""
        if self.live is None:
            return []
        djs = []
        for info in [s for s in self.live.streams() if s.local and s.live][:2]:
            self.watch(info.stream_id, info.title)
            djs.append(
                {
                    "side": None,
                    "peer": info.dj,
                    "name": self.name_of(info.dj),
                    "stream": info.stream_id,
                    **figures(self.meter(info.stream_id)),
                    "track": 0,
                    "tracks": 0,
                    "track_title": info.title,
                    "scores": {},
                }
            )
        return djs

    def _stream_json(self, stream_id: str) -> dict[str, Any] | None:
        if self.live is None:
            return None
        info = next((s for s in self.live.streams() if s.stream_id == stream_id), None)
        if info is None:
            return None
        if info.live:
            self.watch(stream_id, info.title)
        return {**info.to_json(), "name": self.name_of(info.dj), "figures": figures(self.meter(stream_id))}

    def stream_list(self) -> list[dict[str, Any]]:
        """Every stream this node knows, with live figures where it analyses them (no new analysis)."""
        if self.live is None:
            return []
        return [{**s.to_json(), "figures": figures(self.meter(s.stream_id))} for s in self.live.streams()]

    # -- chat and reactions --------------------------------------------------------------------

    def _join_room(self, room: str) -> None:
        if room not in self._rooms:
            self._rooms.add(room)
            self._tasks.spawn(self.node.join_topic(room_topic(room), persist=False))

    def _chat(self, room: str) -> list[dict[str, Any]]:
        lines = []
        for envelope in self.node.chat_history(room, limit=CHAT_LINES):
            message = envelope.message
            if isinstance(message, Chat):
                lines.append(
                    {
                        "name": self.name_of(envelope.author_peer_id),
                        "text": message.text,
                        "at": envelope.created_at_ms,
                    }
                )
        return lines

    def _reactions(self, state: BattleState) -> dict[str, Any]:
        """Signed reactions to the battle that reached this node: counts by emoji, crowd votes, the latest."""
        battle_id = state.machine.battle_id
        since = state.machine.announce.created_at_ms
        counts: dict[str, int] = {}
        votes = {"a": 0, "b": 0}
        recent: list[dict[str, Any]] = []
        seen: set[tuple[bytes, str]] = set()
        for stored in self.node.store.query(kind="reaction", since_ms=since, limit=REACTIONS_SCAN):
            envelope = stored.envelope
            message = envelope.message
            if not isinstance(message, Reaction) or message.target != battle_id:
                continue
            if message.emoji.startswith("vote:"):
                side = message.emoji[5:]
                if side in votes and (envelope.author, "vote") not in seen:  # a voter's latest vote counts
                    seen.add((envelope.author, "vote"))
                    votes[side] += 1
                continue
            counts[message.emoji] = counts.get(message.emoji, 0) + 1
            if len(recent) < RECENT_REACTIONS:
                recent.append(
                    {
                        "name": self.name_of(envelope.author_peer_id),
                        "emoji": message.emoji,
                        "at": envelope.created_at_ms,
                    }
                )
        return {"counts": counts, "votes": votes, "recent": recent}
