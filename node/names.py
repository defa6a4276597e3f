"""Who a peer is on screen: its profile name, with a short ID only where two peers share a name.

Every place that shows a peer (leaderboard, battles, peers, chat, the overlay, notifications)
asks ``PeerNames``, so a peer reads the same everywhere. A name is the newest profile's, as its
author claims it; anyone may claim any name, so:

- names are cleaned before use: control and format characters (bidi overrides, zero-width
  joiners) are dropped, line breaks and other spaces become one space, and ``…`` becomes
  ``...``, so no name can contain the ellipsis the short IDs below are made of;
- peers whose names match (case, width and spacing aside, and ignoring a trailing
  ``(...xyz)``, so a name cannot dress up as an already disambiguated one) are all shown
  with the tail of their peer ID: ``DJ Ada (…3fK9)``, longer tails where four characters do
  not tell them apart;
- a peer without a profile is shown by that short ID alone, ``…Qm3fK9xZ``, and reported to
  ``on_missing`` (a running node then asks its peers for the profile: ``node.profile_fetch``).

The table is rebuilt from the store's profiles when one arrived (``invalidate``) and a name is
asked for, reading at most ``PROFILE_SCAN`` of them, newest first; while profiles pour in (a
history sync), rebuilds take at most a tenth of the time and names may lag by that much.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable

from djmesh.node.clock import monotonic
from djmesh.node.store import Store
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.messages import Profile

PROFILE_SCAN = 20_000
SHORT_CHARS = 8  # the tail that stands for a peer without a name
MIN_SUFFIX_CHARS = 4  # the tail that tells same-named peers apart (longer when it does not)
REBUILD_SHARE = 10  # a slow rebuild (took t) waits 10 t before the next: at most ~10% of the time
THROTTLE_AFTER_S = 0.02  # quicker rebuilds are not held back
_FAKE_SUFFIX = re.compile(r"\s*\(\s*(?:\.\.\.|…)[^()]*\)\s*$")


def short_id(peer_id: str) -> str:
    """A peer without a name: the tail of its peer ID after an ellipsis."""
    return "…" + peer_id[-SHORT_CHARS:]


def clean_name(name: str) -> str:
    """A claimed name as it may be shown: one line, no control or format characters, no ``…``."""
    out = []
    for char in unicodedata.normalize("NFC", name):
        category = unicodedata.category(char)
        if category.startswith("Z") or char.isspace():
            out.append(" ")
        elif not category.startswith("C"):
            out.append(char)
    return " ".join("".join(out).replace("…", "...").split())


def name_key(name: str) -> str:
    """What two names must share to need telling apart."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    while True:
        stripped = _FAKE_SUFFIX.sub("", folded)
        if stripped == folded:
            return " ".join(folded.split())
        folded = stripped


def disambiguate(names: dict[str, str]) -> dict[str, str]:
    """Display names for ``peer_id -> clean name`` (empty: unnamed)."""
    groups: dict[str, list[str]] = {}
    for peer, name in names.items():
        if name:
            groups.setdefault(name_key(name), []).append(peer)
    shown = {peer: name if name else short_id(peer) for peer, name in names.items()}
    for peers in groups.values():
        if len(peers) < 2:
            continue
        length = MIN_SUFFIX_CHARS
        while length < max(len(p) for p in peers) and len({p[-length:] for p in peers}) < len(peers):
            length += 1
        for peer in peers:
            shown[peer] = f"{names[peer]} (…{peer[-length:]})"
    return shown


class PeerNames:
    """Display names of peers from the profiles in ``store`` (``me`` falls back to ``my_name``)."""

    def __init__(
        self,
        store: Store,
        *,
        me: str | None = None,
        my_name: str = "",
        on_missing: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.me = me
        self.my_name = clean_name(my_name)
        self.on_missing = on_missing
        self._claimed: dict[str, str] = {}
        self._shown: dict[str, str] = {}
        self._stale = True
        self._next_build = 0.0

    def invalidate(self) -> None:
        """A profile arrived: rebuild before the next answer."""
        self._stale = True

    def _refresh(self) -> None:
        started = monotonic()
        if not self._stale or started < self._next_build:
            return
        claimed: dict[str, str] = {}
        for stored in self.store.query(kind="profile", limit=PROFILE_SCAN):  # newest first
            envelope = stored.envelope
            peer = envelope.author_peer_id
            if peer not in claimed and isinstance(envelope.message, Profile):
                claimed[peer] = clean_name(envelope.message.name)
        if self.me is not None and not claimed.get(self.me):
            claimed[self.me] = self.my_name
        self._claimed = claimed
        self._shown = disambiguate(claimed)
        finished = monotonic()
        took = finished - started
        self._stale = False
        self._next_build = finished + REBUILD_SHARE * took if took > THROTTLE_AFTER_S else 0.0

    def name(self, peer: str | bytes) -> str:
        """How ``peer`` (a peer ID or an Ed25519 public key) is shown."""
        peer_id = peer_id_from_public_key(peer) if isinstance(peer, bytes) else peer
        self._refresh()
        shown = self._shown.get(peer_id)
        if shown is None:
            if self.on_missing is not None:
                self.on_missing(peer_id)
            return short_id(peer_id)
        return shown

    def names(self, peers: Iterable[str | bytes]) -> dict[str, str]:
        """Peer ID -> display name for each of ``peers``."""
        out = {}
        for peer in peers:
            peer_id = peer_id_from_public_key(peer) if isinstance(peer, bytes) else peer
            out[peer_id] = self.name(peer_id)
        return out

    def claimed(self, peer_id: str) -> str:
        """The (cleaned) name ``peer_id`` gives itself; empty without a profile."""
        self._refresh()
        return self._claimed.get(peer_id, "")

    def find(self, name: str) -> list[str]:
        """The peers whose claimed name is ``name`` (case, width and spacing aside): a CLI's lookup."""
        self._refresh()
        wanted = name_key(clean_name(name))
        return sorted(
            peer for peer, claimed in self._claimed.items() if claimed and name_key(claimed) == wanted
        )
