"""A lying relay: a real ``StreamHub`` whose forwarding is changed, and a tap that counts its audio heard and kept.

Used by the relay-tree simulation (tests/node/sim/test_lying_relay.py) and the hostile-load bench
(bench/hostile.py), where the liar is a real node on loopback. The liar admits anyone (so claims the most free
slots the protocol lets it) and, as ``behaviour`` says, forges the audio it forwards, withholds it, forges it
and withholds the signatures that would expose it, goes silent to its children (no audio, no answers) while
it keeps answering its own parent, which so keeps believing it alive, or forges and disowns each segment before
its signature exposes it, as an honest relay below a liar does (``relay.Disown``).
"""

from __future__ import annotations

from djmesh.node.live.hub import StreamHub
from djmesh.node.live.sets import SetSegment
from djmesh.protocol.relay import Disown
from djmesh.protocol.stream import Frame, Playout, decode_frame

FORGED = b"\xee"  # the liar's audio: every payload byte is this
BEHAVIOURS = (
    "forges",
    "withholds frames",
    "forges and withholds signatures",
    "goes silent",
    "forges and disowns",
    "withholds half the frames",
)


def is_forged(payload: bytes | None) -> bool:
    return payload is not None and set(payload) == set(FORGED)


def make_liar(hub: StreamHub, behaviour: str) -> None:
    """Turn ``hub`` (a relay's, already forwarding a stream) into a liar of the given ``behaviour``."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown lie {behaviour!r} (known: {', '.join(BEHAVIOURS)})")
    hub.max_children = 1000  # admits anyone: claims the most the protocol believes
    honest_frame = hub.forward_frame

    def forge(seq: int, datagram: bytes) -> None:
        frame = decode_frame(datagram)
        honest_frame(seq, Frame(frame.seq, frame.ts_us, FORGED * len(frame.payload)).encode())

    if behaviour in ("forges", "forges and withholds signatures", "forges and disowns"):
        hub.forward_frame = forge  # type: ignore[method-assign]
    if behaviour == "forges and disowns":
        honest_manifest = hub.forward_manifest

        def disown_then_sign(first: int, end: int, wire: bytes) -> None:
            hub._broadcast(Disown(first, end))
            honest_manifest(first, end, wire)

        hub.forward_manifest = disown_then_sign  # type: ignore[method-assign]
    if behaviour == "withholds frames":
        hub.forward_frame = lambda seq, datagram: None  # type: ignore[method-assign]
    if behaviour == "withholds half the frames":  # the odd ones; what it passes on is genuine
        hub.forward_frame = lambda seq, datagram: None if seq % 2 else honest_frame(seq, datagram)  # type: ignore[method-assign]
    if behaviour in ("forges and withholds signatures", "goes silent"):
        hub.forward_manifest = lambda first, end, wire: None  # type: ignore[method-assign]
    if behaviour == "goes silent":
        hub.forward_frame = lambda seq, datagram: None  # type: ignore[method-assign]
        hub.on_control = lambda link, value: None  # type: ignore[method-assign]  # no pongs, no resends


class ForgedAudio:
    """A stream tap counting the liar's frames played (heard) and recorded (kept as verified)."""

    def __init__(self) -> None:
        self.played = 0
        self.recorded = 0

    def on_playout(self, item: Playout, now_us: int) -> None:
        self.played += is_forged(item.payload)

    def on_segment(self, segment: SetSegment) -> None:
        self.recorded += sum(1 for f in segment.frames if f is not None and is_forged(f.payload))

    def on_end(self, error: str | None) -> None:
        pass
