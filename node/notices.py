"""What concerns this node: mentions, follows, reactions, battle challenges and battle results.

One rule for both ways a notification reaches its owner: live, as a ``Notification`` event from
``Node.events()`` (the TUI turns those into toasts), and listed, newest first, by
``Node.notifications`` (`djmesh notifications`, the TUI's Notifications screen).

- ``mention``, ``follow``, ``reaction``, ``challenge``: messages on our inbox topic that name
  us (a ``battle_announce`` travels to its opponent's inbox too). Other inbox traffic, such as
  listen vouchers, is not news.
- ``result``: the first verified result bundle of a battle this node is in (as a DJ, or having
  joined it), whoever published it. Bundles are checked before they count, so a forged
  result notifies nobody.
- ``crew_invite``: live only (the crew key sealed to us; see ``Node``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from djmesh.node.json_view import envelope_json
from djmesh.node.names import PeerNames
from djmesh.node.records import VerifiedResults
from djmesh.node.store import Store
from djmesh.protocol.battle import BattleAnnounce, BattleJoin, BattleResult
from djmesh.protocol.bounded import BoundedSet as BoundedSet  # re-exported: apps remember seen notices
from djmesh.protocol.consensus import Result
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.messages import Follow, Post, Reaction
from djmesh.protocol.topics import inbox_topic

INBOX_KINDS = ("post", "follow", "reaction", "battle_announce")
MY_BATTLES_SCAN = 200  # the newest battles of ours whose results are listed
TEXT_CHARS = 80
NOTIFIED_CAPACITY = 1024


@dataclass(frozen=True)
class Notice:
    """One notification: why (``reason``), the message, and for ``result`` the verified result."""

    reason: str
    envelope: SignedEnvelope
    result: Result | None = None

    @property
    def battle_id(self) -> bytes | None:
        message = self.envelope.message
        if isinstance(message, BattleAnnounce):
            return self.envelope.content_id
        return message.battle if isinstance(message, BattleResult) else None

    def text(self, names: PeerNames, me: bytes) -> str:
        """One line a person reads, names included."""
        who = names.name(self.envelope.author)
        message = self.envelope.message
        if isinstance(message, Post):
            return f"{who} mentioned you: {_clip(message.text)}"
        if isinstance(message, Follow):
            return f"{who} follows you"
        if isinstance(message, Reaction):
            return f"{who} reacted {_clip(message.emoji)}"
        if isinstance(message, BattleAnnounce):
            title = f": {_clip(message.title)}" if message.title else ""
            return f"{who} challenges you to a {message.rules.genre} battle{title}"
        if self.result is not None:
            return result_text(self.result, names, me)
        return f"{self.reason.replace('_', ' ')} from {who}"

    def as_json(self, names: PeerNames, me: bytes) -> dict[str, Any]:
        """``envelope_json`` plus ``reason``, ``author_name``, ``text``, ``battle_id`` (or null)."""
        battle = self.battle_id
        out = {
            **envelope_json(self.envelope),
            "reason": self.reason,
            "author_name": names.name(self.envelope.author),
            "text": self.text(names, me),
            "battle_id": battle.hex() if battle is not None else None,
        }
        if self.result is not None:
            out["winner"] = self.result.winner
            out["winner_name"] = names.name(self.result.djs[self.result.winner])
        return out


def _clip(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= TEXT_CHARS else line[: TEXT_CHARS - 1] + "…"


def result_text(result: Result, names: PeerNames, me: bytes) -> str:
    title = _clip(result.announce.title) or f"{result.announce.rules.genre} battle"
    winner = result.djs[result.winner]
    loser = next((key for key in result.djs.values() if key != winner), winner)
    how = " by forfeit" if result.forfeit is not None else ""
    if result.scores:
        totals = (result.scores[result.winner]["total"], result.scores[_other(result.winner)]["total"])
        how += f" ({totals[0] / 100:.2f} to {totals[1] / 100:.2f})"
    if winner == me:
        return f"{title}: you won against {names.name(loser)}{how}"
    if loser == me:
        return f"{title}: {names.name(winner)} won against you{how}"
    return f"{title}: {names.name(winner)} won against {names.name(loser)}{how}"


def _other(side: str) -> str:
    return "b" if side == "a" else "a"


def inbox_reason(envelope: SignedEnvelope, me: bytes) -> str | None:
    """Why a message concerns ``me`` by naming it; None for anything else."""
    message = envelope.message
    if envelope.author == me:
        return None
    if isinstance(message, Post) and me in message.mentions:
        return "mention"
    if isinstance(message, Follow) and message.target == me:
        return "follow"
    if isinstance(message, Reaction) and message.target_author == me:
        return "reaction"
    if isinstance(message, BattleAnnounce) and message.opponent == me:
        return "challenge"
    return None


def my_battles(store: Store, me: bytes, *, limit: int = MY_BATTLES_SCAN) -> set[bytes]:
    """Battles ``me`` is in: announced by it, naming it, or joined by it (the newest ``limit`` each)."""
    battles = {s.envelope.content_id for s in store.query(author=me, kind="battle_announce", limit=limit)}
    for envelope in store.by_topics(
        [inbox_topic(me)], kinds=("battle_announce",), limit=limit, newest_first=True
    ):
        if isinstance(envelope.message, BattleAnnounce) and envelope.message.opponent == me:
            battles.add(envelope.content_id)
    for stored in store.query(author=me, kind="battle_join", limit=limit):
        if isinstance(stored.envelope.message, BattleJoin):
            battles.add(stored.envelope.message.battle)
    return battles


def in_battle(store: Store, me: bytes, battle_id: bytes) -> bool:
    """A DJ of the battle (its announcement is the one with ``battle_id`` as content ID) or a joiner."""
    stored = store.get(battle_id)
    envelope = stored.envelope if stored is not None else None
    if envelope is not None and isinstance(envelope.message, BattleAnnounce):
        return me in (envelope.author, envelope.message.opponent) or _joined(store, me, battle_id)
    return _joined(store, me, battle_id)


def _joined(store: Store, me: bytes, battle_id: bytes) -> bool:
    return any(
        isinstance(s.envelope.message, BattleJoin) and s.envelope.message.battle == battle_id
        for s in store.query(author=me, kind="battle_join", limit=MY_BATTLES_SCAN)
    )


class Notices:
    """The notifications of the node whose public key is ``me``."""

    def __init__(self, me: bytes, results: VerifiedResults) -> None:
        self.me = me
        self.results = results
        self._notified: BoundedSet[bytes] = BoundedSet(NOTIFIED_CAPACITY)  # battles whose result was news
        self._results: tuple[int, list[Notice]] | None = None  # by how many bundles the store held

    def on_stored(self, store: Store, envelope: SignedEnvelope) -> Notice | None:
        """The notification a newly stored message makes, if any (each battle's result once)."""
        reason = inbox_reason(envelope, self.me)
        if reason is not None:
            return Notice(reason, envelope)
        message = envelope.message
        if not isinstance(message, BattleResult) or message.battle in self._notified:
            return None
        if not in_battle(store, self.me, message.battle):
            return None
        first = self.results.first_of_battles(store, [message.battle]).get(message.battle)
        if first is None or first[0].content_id != envelope.content_id:
            return None  # forged, or not the battle's first verified bundle: old news
        self._notified.add(message.battle)
        return Notice("result", envelope, first[1])

    def listing(self, store: Store, *, hidden: set[bytes], limit: int = 50) -> list[Notice]:
        """Newest first: what named us on our inbox (not from ``hidden`` peers) and our battles' results."""
        notices = []
        for envelope in store.by_topics(
            [inbox_topic(self.me)], kinds=INBOX_KINDS, limit=limit * 2, newest_first=True
        ):
            reason = inbox_reason(envelope, self.me)
            if reason is not None and envelope.author not in hidden:
                notices.append(Notice(reason, envelope))
        notices.extend(self._result_notices(store))
        notices.sort(key=lambda n: (n.envelope.created_at_ms, n.envelope.content_id), reverse=True)
        return notices[:limit]

    def _result_notices(self, store: Store) -> list[Notice]:
        """Our battles' results, recomputed only when a result bundle arrived (a battle is ours
        from its announcement or our join, both of which come before its result)."""
        bundles = store.count(kind="battle_result")
        if self._results is None or self._results[0] != bundles:
            found = self.results.first_of_battles(store, my_battles(store, self.me))
            self._results = (bundles, [Notice("result", e, r) for e, r in found.values()])
        return self._results[1]
