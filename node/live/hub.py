"""Serving one stream to child links: forward frames and manifests untouched, admit or redirect joiners.

The DJ's broadcast and every relaying listener own one hub per stream. A hub admits at most
``max_children`` (the node's upload budget); a joiner beyond that is redirected to children
with room, so the tree grows downwards. Recent frames and manifests are kept so a late joiner
or a re-parented child gets the current segment at once (it can verify it when it is signed).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from djmesh.node.clock import monotonic
from djmesh.node.live.paywall import JoinGate
from djmesh.node.live.transport import ControlMessage, Link
from djmesh.protocol.cbor import CborValue

log = logging.getLogger(__name__)

CHILD_TIMEOUT_S = 2.0
MAX_NACK = 64
RESEND_PER_S = 100.0  # frames a child may have resent per second (2 s of audio lost every second)
Address = tuple[str, int]


def address_value(address: Address) -> list[CborValue]:
    return [address[0], address[1]]


def parse_address(value: CborValue) -> Address | None:
    if (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and 0 < len(value[0]) <= 255
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
        and 0 <= value[1] < 65536  # 0: a transport without ports (WebRTC: rtc:<peer id>)
    ):
        return (value[0], value[1])
    return None


@dataclass
class Child:
    link: Link
    listen: Address | None
    free: int = 0
    last_seen: float = field(default_factory=monotonic)
    resend_tokens: float = RESEND_PER_S
    resend_at: float = field(default_factory=monotonic)

    def take_resends(self, wanted: int, now: float) -> int:
        """How many of ``wanted`` resent frames this child may have now (a token bucket)."""
        self.resend_tokens = min(RESEND_PER_S, self.resend_tokens + (now - self.resend_at) * RESEND_PER_S)
        self.resend_at = now
        granted = min(wanted, int(self.resend_tokens))
        self.resend_tokens -= granted
        return granted


class StreamHub:
    def __init__(
        self,
        stream: bytes,
        announce: bytes,
        *,
        own_address: Address,
        max_children: int,
        segment_frames: int,
        hops: int = 0,
        path: list[Address] | None = None,
    ) -> None:
        self.stream = stream
        self.announce = announce
        self.own_address = own_address
        self.max_children = max_children
        self.hops = hops
        self.path: list[Address] = list(path or [])
        self.children: dict[int, Child] = {}
        # A priced stream's root admits only whom the gate lets in, and never redirects to relays.
        self.gate: JoinGate | None = None
        self.ended: bytes | None = None  # the StreamEnd envelope once the DJ stopped
        self.forwarded = 0
        self._keep = 3 * segment_frames
        self._order: deque[int] = deque()
        self._frames: dict[int, bytes] = {}
        self._manifests: deque[tuple[int, int, bytes]] = deque(maxlen=4)  # (first_seq, end_seq, wire)

    @property
    def free(self) -> int:
        return max(0, self.max_children - len(self.children))

    # -- media ---------------------------------------------------------------------------------

    def forward_frame(self, seq: int, datagram: bytes) -> None:
        if seq in self._frames:
            return  # already forwarded (a recovered frame we had after all)
        self._frames[seq] = datagram
        self._order.append(seq)
        while len(self._order) > self._keep:
            self._frames.pop(self._order.popleft(), None)
        for child in self.children.values():
            child.link.send_datagram(datagram)
        self.forwarded += len(self.children)

    def forward_manifest(self, first_seq: int, end_seq: int, wire: bytes) -> None:
        self._manifests.append((first_seq, end_seq, wire))
        message: ControlMessage = {"op": "manifest", "data": wire}
        for child in self.children.values():
            child.link.send_control(message)

    def end(self, end_envelope: bytes) -> None:
        self.ended = end_envelope
        for child in list(self.children.values()):
            child.link.send_control({"op": "end", "data": end_envelope})

    # -- membership ----------------------------------------------------------------------------

    def probe_reply(self) -> ControlMessage:
        return {"op": "probe_ok", "hops": self.hops, "free": self.free, "live": self.ended is None}

    def candidates(self) -> list[CborValue]:
        """Children that can relay, most room first (where to redirect joiners; they confirm when probed)."""
        if self.gate is not None:
            return []  # a gated stream is served by its root only
        ranked = sorted((c for c in self.children.values() if c.listen is not None), key=lambda c: -c.free)
        return [
            {"addr": address_value(c.listen), "hops": self.hops + 1, "free": c.free}
            for c in ranked
            if c.listen is not None
        ]

    def join(self, link: Link, message: ControlMessage) -> bool:
        """Admit ``link`` (accept + catch-up) or redirect it; True if admitted."""
        listen = parse_address(message.get("listen"))
        if listen is not None and (listen == self.own_address or listen in self.path):
            link.send_control({"op": "redirect", "reason": "loop", "candidates": []})
            return False
        if self.gate is not None and (refused := self.gate.admit(self.stream, link, message)) is not None:
            link.send_control({"op": "redirect", "reason": refused, "candidates": []})
            log.info("stream %s: join refused: %s", self.stream.hex()[:8], refused)
            return False
        if id(link) not in self.children and self.free <= 0:
            link.send_control({"op": "redirect", "reason": "full", "candidates": self.candidates()})
            return False
        self.children[id(link)] = Child(link, listen)
        link.send_control(
            {
                "op": "accept",
                "hops": self.hops + 1,
                "path": [address_value(a) for a in [self.own_address, *self.path]],
                "announce": self.announce,
            }
        )
        from_seq = message.get("from_seq")
        self._catch_up(link, from_seq if isinstance(from_seq, int) and from_seq >= 0 else None)
        if self.ended is not None:
            link.send_control({"op": "end", "data": self.ended})
        log.info(
            "stream %s: child %s joined (%d/%d)",
            self.stream.hex()[:8],
            listen,
            len(self.children),
            self.max_children,
        )
        return True

    def _catch_up(self, link: Link, from_seq: int | None) -> None:
        """Frames since ``from_seq`` (default: the start of the unsigned segment), then their manifests."""
        if from_seq is None:
            from_seq = self._manifests[-1][1] if self._manifests else 0
        frames: list[CborValue] = [self._frames[seq] for seq in sorted(self._frames) if seq >= from_seq]
        if frames:
            link.send_control({"op": "frames", "data": frames})
        for _first, end, wire in self._manifests:
            if end > from_seq:
                link.send_control({"op": "manifest", "data": wire})

    def keepalive(self, link: Link, message: ControlMessage) -> None:
        child = self.children.get(id(link))
        if child is None:
            return
        child.last_seen = monotonic()
        free = message.get("free")
        if isinstance(free, int) and not isinstance(free, bool):
            child.free = max(0, min(free, 1000))
        link.send_control({"op": "pong", "t": message.get("t"), "hops": self.hops, "free": self.free})

    def resend(self, link: Link, seqs: CborValue) -> None:
        """A child lost some datagrams: resend what we still hold, reliably, on the control stream."""
        child = self.children.get(id(link))
        if child is None or not isinstance(seqs, list):
            return
        found: list[CborValue] = [
            self._frames[seq] for seq in seqs[:MAX_NACK] if isinstance(seq, int) and seq in self._frames
        ]
        found = found[: child.take_resends(len(found), monotonic())]
        if found:
            link.send_control({"op": "frames", "data": found})

    def remove(self, link: Link) -> None:
        if self.children.pop(id(link), None) is not None:
            log.info("stream %s: child left (%d left)", self.stream.hex()[:8], len(self.children))

    def cut(self, link: Link, reason: str) -> None:
        """Stop serving a child now (e.g. a listener whose payments stopped)."""
        if self.children.pop(id(link), None) is not None:
            log.info("stream %s: child cut off: %s", self.stream.hex()[:8], reason)
        link.close(reason)

    def sweep(self, now: float | None = None) -> None:
        """Drop children that stopped sending keepalives (a node that died without closing)."""
        now = monotonic() if now is None else now
        for key, child in list(self.children.items()):
            if now - child.last_seen > CHILD_TIMEOUT_S:
                self.children.pop(key, None)
                child.link.close("keepalive timeout")

    # -- LinkHandler for child links -------------------------------------------------------------

    def on_datagram(self, link: Link, data: bytes) -> None:
        """Children send nothing but control messages; stray datagrams are ignored."""

    def on_control(self, link: Link, message: ControlMessage) -> None:
        op = message.get("op")
        if op == "ping":
            self.keepalive(link, message)
        elif op == "nack":
            self.resend(link, message.get("seqs"))
        elif op == "leave":
            self.remove(link)
            link.close("left")

    def on_closed(self, link: Link, reason: str) -> None:
        self.remove(link)

    def close(self) -> None:
        for child in list(self.children.values()):
            child.link.close("stream closed")
        self.children.clear()
