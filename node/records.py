"""Verified battle results in the store, each bundle checked once, and what they add up to.

Checking a bundle means checking every signature inside it, so a node keeps the outcome per
content ID (``VerifiedResults``): the gossip validator, the battle machine, the battle service and
the ratings all ask it, so each bundle is checked once per node, and the messages inside it that
gossip brought before are not verified again (the node's ``EnvelopeCache``). The ratings need every verified result the store holds: the
first time they are asked for, the store is read once; after that the node adds each result as
it is stored (``add``) and the tables are recomputed only when one was added. The
leaderboard and a peer's record come from ``djmesh.protocol.ratings`` with display names from
``djmesh.node.names``; the control API, the HTTP API and the TUI show this same JSON.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

from djmesh.node.names import PeerNames
from djmesh.node.store import Store
from djmesh.protocol.battle import BattleResult, battle_topic
from djmesh.protocol.consensus import InvalidResultError, Result, preference, verify_bundle_envelope
from djmesh.protocol.envelope import EnvelopeCache, SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.ratings import Standing, ratings, record_of

log = logging.getLogger(__name__)

RESULTS_SCAN = 100_000  # the newest result bundles the ratings are computed from
CHECKED_CAPACITY = 8192
BATTLE_BUNDLES_SCAN = 256  # bundles of one battle looked at for its first verified one


class VerifiedResults:
    """Which result bundles verify, remembered by content ID (bounded), and the ratings they make."""

    def __init__(self, capacity: int = CHECKED_CAPACITY, *, verified: EnvelopeCache | None = None) -> None:
        self.capacity = capacity
        self.verified = verified  # envelopes verified before: a bundle's messages are not checked again
        self._checked: OrderedDict[bytes, Result | str] = OrderedDict()  # the result, or why it failed
        self._known: dict[bytes, Result] | None = None  # content ID -> result; None until first asked
        self._tables: dict[str, list[Standing]] | None = None

    def verify(self, envelope: SignedEnvelope) -> Result | None:
        """The verified result of a ``battle_result`` envelope, or None (the reason is logged once)."""
        outcome = self._outcome(envelope)
        return outcome if isinstance(outcome, Result) else None

    def check(self, envelope: SignedEnvelope) -> Result:
        """The verified result of a ``battle_result`` envelope; ``InvalidResultError`` saying why not."""
        outcome = self._outcome(envelope)
        if isinstance(outcome, str):
            raise InvalidResultError(outcome)
        return outcome

    def _outcome(self, envelope: SignedEnvelope) -> Result | str:
        key = envelope.content_id  # a hash of the whole signed bytes: another signature is another key
        if key in self._checked:
            self._checked.move_to_end(key)
            return self._checked[key]
        try:
            outcome: Result | str = verify_bundle_envelope(envelope, cache=self.verified)
        except (ProtocolError, ValueError) as exc:
            log.info("result bundle %s does not verify: %s", key.hex()[:12], exc)
            outcome = str(exc)
        self._checked[key] = outcome
        while len(self._checked) > self.capacity:
            self._checked.popitem(last=False)
        return outcome

    def in_store(self, store: Store, *, limit: int = RESULTS_SCAN) -> list[tuple[SignedEnvelope, Result]]:
        """The verified bundles among the newest ``limit`` in the store, newest first."""
        out = []
        for stored in store.query(kind="battle_result", limit=limit):
            result = self.verify(stored.envelope)
            if result is not None:
                out.append((stored.envelope, result))
        return out

    def first_of_battles(
        self, store: Store, battle_ids: Iterable[bytes]
    ) -> dict[bytes, tuple[SignedEnvelope, Result]]:
        """Per battle, the verified bundle whose result counts (``consensus.preference``; the first such
        bundle stored when several carry that result); battles without one are left out."""
        wanted = set(battle_ids)
        found: dict[bytes, tuple[SignedEnvelope, Result]] = {}
        if not wanted:
            return found
        topics = [battle_topic(battle_id) for battle_id in sorted(wanted)]
        bundles = store.by_topics(
            topics, kinds=("battle_result",), limit=BATTLE_BUNDLES_SCAN * len(topics)
        )  # oldest first
        for envelope in bundles:
            message = envelope.message
            if not isinstance(message, BattleResult) or message.battle not in wanted:
                continue
            result = self.verify(envelope)
            if result is None or result.battle_id != message.battle:
                continue
            held = found.get(result.battle_id)
            if held is None or preference(result) < preference(held[1]):
                found[result.battle_id] = (envelope, result)
        return found

    def add(self, envelope: SignedEnvelope) -> None:
        """A result bundle was stored: count it (once the ratings have been asked for)."""
        if self._known is None or envelope.content_id in self._known:
            return
        result = self.verify(envelope)
        if result is not None and len(self._known) < RESULTS_SCAN:
            self._known[envelope.content_id] = result
            self._tables = None

    def tables(self, store: Store) -> dict[str, list[Standing]]:
        """Standings per genre from every verified result in the store (up to ``RESULTS_SCAN``)."""
        if self._known is None:
            self._known = {envelope.content_id: result for envelope, result in self.in_store(store)}
            self._tables = None
        if self._tables is None:
            self._tables = ratings(self._known.values())
        return self._tables


def leaderboard_json(
    tables: dict[str, list[Standing]], names: PeerNames, *, genre: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Per genre, ranked rows: ``Standing.as_json`` plus ``rank`` and the peer's display ``name``."""
    chosen = {genre: tables.get(genre, [])} if genre is not None else tables
    return {
        name: [
            {**standing.as_json(), "rank": rank, "name": names.name(standing.peer)}
            for rank, standing in enumerate(rows, 1)
        ]
        for name, rows in chosen.items()
    }


def record_json(tables: dict[str, list[Standing]], peer: bytes) -> dict[str, Any]:
    """``peer``'s record (``Record.as_json``): per genre, overall, average score and tier."""
    return record_of(peer, tables).as_json()
