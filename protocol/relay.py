"""Relay-tree control messages (sans-IO): what peers of one live stream say on a link's control channel.

Every message is a CBOR map with an ``op`` (framed by ``stream.encode_control``). Each ``op`` has a
typed class here whose fields are checked strictly on decode (types, ranges, no unknown keys) and on
construction, so no message can exceed its ``MAX_BYTES`` and none exceeds ``MAX_CONTROL_BYTES``:
batches of frames (catch-up, resends) are split by ``frame_batches``. ``decode_relay`` turns a
received map into a message or raises ``MalformedMessageError`` saying why (the node drops it and
logs the reason). The table in docs/PROTOCOL.md lists them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import ClassVar, Self

from djmesh.protocol.cbor import CborKey, CborValue
from djmesh.protocol.errors import MalformedMessageError
from djmesh.protocol.stream import MAX_CONTROL_BYTES, MAX_FRAME_DATAGRAM, MAX_MANIFEST_BYTES

Address = tuple[str, int]  # (host, port); port 0 for transports without ports (WebRTC: rtc:<peer id>)
MAX_HOST_CHARS = 255
MAX_HOPS = 32  # a path longer than this is refused (a tree of 8 children per node is 5 deep at 10^5)
MAX_FREE_CLAIM = 16  # the most free slots a relay may claim; more is refused, not believed
MAX_CANDIDATES = 16
MAX_NACK = 64
MAX_REASON_CHARS = 120
MAX_MARKS = 4
MAX_DISOWNS = 2  # Disown messages a child believes from one parent; one more and it leaves that parent
MAX_BATCH_FRAMES = 48  # 48 x (1,156 + 3) bytes + the map: under 55 KiB whatever the bitrate
MAX_ANNOUNCE_BYTES = 8 * 1024
MAX_END_BYTES = 4 * 1024
MAX_VOUCHER_BYTES = 1024  # a listen_voucher envelope is about 450 bytes
MAX_UINT63 = 2**63 - 1


# -- field checks (MalformedMessageError with the field's name) -------------------------------------


def _integer(value: CborValue, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise MalformedMessageError(f"{name}: expected an integer in {low}..{high}")
    return value


def _optional_integer(value: CborValue, name: str, low: int, high: int) -> int | None:
    return None if value is None else _integer(value, name, low, high)


def _blob(value: CborValue, name: str, *, low: int = 0, high: int) -> bytes:
    if not isinstance(value, bytes) or not low <= len(value) <= high:
        raise MalformedMessageError(f"{name}: expected {low}..{high} bytes")
    return value


def _text(value: CborValue, name: str, high: int) -> str:
    if not isinstance(value, str) or len(value) > high or not value.isprintable():
        raise MalformedMessageError(f"{name}: expected printable text of at most {high} characters")
    return value


def _flag(value: CborValue, name: str) -> bool:
    if not isinstance(value, bool):
        raise MalformedMessageError(f"{name}: expected true or false")
    return value


def _list(value: CborValue, name: str, high: int) -> list[CborValue]:
    if not isinstance(value, list) or len(value) > high:
        raise MalformedMessageError(f"{name}: expected a list of at most {high} items")
    return value


def parse_address(value: CborValue, name: str = "address") -> Address:
    if not isinstance(value, list) or len(value) != 2:
        raise MalformedMessageError(f"{name}: expected [host, port]")
    host, port = value
    if not isinstance(host, str) or not 0 < len(host) <= MAX_HOST_CHARS or not host.isascii():
        raise MalformedMessageError(f"{name}: host must be 1..{MAX_HOST_CHARS} ASCII characters")
    if not host.isprintable():
        raise MalformedMessageError(f"{name}: host must be printable")
    return (host, _integer(port, f"{name} port", 0, 65535))


def address_value(address: Address) -> list[CborValue]:
    return [address[0], address[1]]


def _check_address(address: Address, name: str) -> None:
    parse_address(address_value(address), name)


def _fields(value: Mapping[str, CborValue], op: str, allowed: frozenset[str]) -> None:
    unknown = sorted(set(value) - allowed - {"op"})
    if unknown:
        raise MalformedMessageError(f"{op}: unknown fields: {', '.join(unknown)}")


# -- messages ---------------------------------------------------------------------------------------


class RelayMessage:
    """Base of the typed control messages; ``to_value`` is the map sent, ``MAX_BYTES`` its size bound."""

    OP: ClassVar[str]
    FIELDS: ClassVar[frozenset[str]] = frozenset()
    MAX_BYTES: ClassVar[int]

    def to_value(self) -> dict[str, CborValue]:
        raise NotImplementedError

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        raise NotImplementedError

    @classmethod
    def largest(cls) -> Self:
        """The biggest message of this kind the checks allow (tests hold it to ``MAX_BYTES``)."""
        raise NotImplementedError


_LONG_ADDRESS: Address = ("h" * MAX_HOST_CHARS, 65535)


@dataclass(frozen=True)
class Candidate:
    """Where a joiner may try next: a relay's address, its depth and the free slots it claims (capped)."""

    address: Address
    hops: int
    free: int

    def __post_init__(self) -> None:
        _check_address(self.address, "candidate")
        _integer(self.hops, "candidate hops", 0, MAX_HOPS)
        _integer(self.free, "candidate free", 0, MAX_FREE_CLAIM)

    def to_value(self) -> dict[CborKey, CborValue]:
        return {"addr": address_value(self.address), "hops": self.hops, "free": self.free}

    @classmethod
    def from_value(cls, value: CborValue) -> Candidate:
        if not isinstance(value, dict) or set(value) != {"addr", "hops", "free"}:
            raise MalformedMessageError("candidate: expected a map with addr, hops, free")
        return cls(
            parse_address(value["addr"], "candidate"),
            _integer(value["hops"], "candidate hops", 0, MAX_HOPS),
            _integer(value["free"], "candidate free", 0, MAX_FREE_CLAIM),
        )


def parse_candidates(value: CborValue) -> list[Candidate]:
    return [Candidate.from_value(item) for item in _list(value, "candidates", MAX_CANDIDATES)]


def _check_marks(marks: tuple[Address, ...]) -> None:
    if len(marks) > MAX_MARKS:
        raise MalformedMessageError(f"marks: at most {MAX_MARKS}")
    for mark in marks:
        _check_address(mark, "mark")


def _parse_marks(value: CborValue) -> tuple[Address, ...]:
    return tuple(parse_address(m, "mark") for m in _list(value, "marks", MAX_MARKS))


@dataclass(frozen=True)
class Probe(RelayMessage):
    """Joiner -> node: do you carry ``stream``, how deep are you and how much room do you have?

    ``marks``: relays the joiner just left because they delivered nothing or bad data; a node
    that has one of them as a child lists it last for a while. A leaver probes its old parent's
    ancestors first, so the liar's own parent hears of it. ``gone``: the parent the joiner lost to
    silence; a node whose own child that is, and silent to it too, frees its slot at once.
    """

    OP: ClassVar[str] = "probe"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"stream", "marks", "gone"})
    MAX_BYTES: ClassVar[int] = 1600
    stream: bytes
    marks: tuple[Address, ...] = ()
    gone: Address | None = None

    def __post_init__(self) -> None:
        _blob(self.stream, "stream", low=32, high=32)
        _check_marks(self.marks)
        if self.gone is not None:
            _check_address(self.gone, "gone")

    def to_value(self) -> dict[str, CborValue]:
        value: dict[str, CborValue] = {"op": self.OP, "stream": self.stream}
        if self.marks:
            value["marks"] = [address_value(mark) for mark in self.marks]
        if self.gone is not None:
            value["gone"] = address_value(self.gone)
        return value

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        gone = value.get("gone")
        return cls(
            _blob(value.get("stream"), "stream", low=32, high=32),
            _parse_marks(value.get("marks", [])),
            None if gone is None else parse_address(gone, "gone"),
        )

    @classmethod
    def largest(cls) -> Self:
        return cls(bytes(32), (_LONG_ADDRESS,) * MAX_MARKS, _LONG_ADDRESS)


@dataclass(frozen=True)
class ProbeOk(RelayMessage):
    """Node -> joiner: it carries the stream (``live``: not ended), at ``hops`` from the DJ, ``free`` slots.

    A full node adds ``candidates`` (its children with room, as a redirect would), so a joiner
    need not spend a join's round trip on it to learn where to go next.
    """

    OP: ClassVar[str] = "probe_ok"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"hops", "free", "live", "candidates"})
    MAX_BYTES: ClassVar[int] = 5 * 1024
    hops: int
    free: int
    live: bool
    candidates: tuple[Candidate, ...] = ()

    def __post_init__(self) -> None:
        _integer(self.hops, "hops", 0, MAX_HOPS)
        _integer(self.free, "free", 0, MAX_FREE_CLAIM)
        if len(self.candidates) > MAX_CANDIDATES:
            raise MalformedMessageError(f"candidates: at most {MAX_CANDIDATES}")

    def to_value(self) -> dict[str, CborValue]:
        value: dict[str, CborValue] = {"op": self.OP, "hops": self.hops, "free": self.free, "live": self.live}
        if self.candidates:
            value["candidates"] = [c.to_value() for c in self.candidates]
        return value

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(
            _integer(value.get("hops"), "hops", 0, MAX_HOPS),
            _integer(value.get("free"), "free", 0, MAX_FREE_CLAIM),
            _flag(value.get("live"), "live"),
            tuple(parse_candidates(value.get("candidates", []))),
        )

    @classmethod
    def largest(cls) -> Self:
        candidate = Candidate(_LONG_ADDRESS, MAX_HOPS, MAX_FREE_CLAIM)
        return cls(MAX_HOPS, MAX_FREE_CLAIM, True, (candidate,) * MAX_CANDIDATES)


def _ticket(value: CborValue) -> dict[CborKey, CborValue] | None:
    """A join ticket's shape (its signature is the DJ's gate's to check): {k: 32 B, t: ms, g: 64 B}."""
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"k", "t", "g"}:
        raise MalformedMessageError("ticket: expected a map with keys k t g")
    _blob(value["k"], "ticket k", low=32, high=32)
    _integer(value["t"], "ticket t", 0, MAX_UINT63)
    _blob(value["g"], "ticket g", low=64, high=64)
    return {str(k): v for k, v in value.items()}


@dataclass(frozen=True)
class Join(RelayMessage):
    """Joiner -> node: take me as a child.

    ``listen``: where the joiner serves children itself (None: it does not relay); ``from_seq``: the
    first frame it lacks (None: from the current segment); ``ticket``: a priced stream's join ticket.
    """

    OP: ClassVar[str] = "join"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"stream", "listen", "from_seq", "ticket"})
    MAX_BYTES: ClassVar[int] = 512
    stream: bytes
    listen: Address | None = None
    from_seq: int | None = None
    ticket: dict[CborKey, CborValue] | None = None

    def __post_init__(self) -> None:
        _blob(self.stream, "stream", low=32, high=32)
        if self.listen is not None:
            _check_address(self.listen, "listen")
        _optional_integer(self.from_seq, "from_seq", 0, MAX_UINT63)
        _ticket(self.ticket)

    def to_value(self) -> dict[str, CborValue]:
        value: dict[str, CborValue] = {
            "op": self.OP,
            "stream": self.stream,
            "listen": None if self.listen is None else address_value(self.listen),
            "from_seq": self.from_seq,
        }
        if self.ticket is not None:
            value["ticket"] = dict(self.ticket.items())
        return value

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        listen = value.get("listen")
        return cls(
            stream=_blob(value.get("stream"), "stream", low=32, high=32),
            listen=None if listen is None else parse_address(listen, "listen"),
            from_seq=_optional_integer(value.get("from_seq"), "from_seq", 0, MAX_UINT63),
            ticket=_ticket(value.get("ticket")),
        )

    @classmethod
    def largest(cls) -> Self:
        ticket: dict[CborKey, CborValue] = {"k": bytes(32), "t": MAX_UINT63, "g": bytes(64)}
        return cls(bytes(32), _LONG_ADDRESS, MAX_UINT63, ticket)


@dataclass(frozen=True)
class Accept(RelayMessage):
    """Node -> joiner: admitted at ``hops``; ``path`` is the new parent then its ancestors up to the DJ."""

    OP: ClassVar[str] = "accept"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"hops", "path", "announce"})
    MAX_BYTES: ClassVar[int] = 18 * 1024
    hops: int
    path: tuple[Address, ...]
    announce: bytes

    def __post_init__(self) -> None:
        _integer(self.hops, "hops", 1, MAX_HOPS)
        _check_path(self.path)
        _blob(self.announce, "announce", high=MAX_ANNOUNCE_BYTES)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "hops": self.hops, "path": _path_value(self.path), "announce": self.announce}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(
            _integer(value.get("hops"), "hops", 1, MAX_HOPS),
            _parse_path(value.get("path")),
            _blob(value.get("announce"), "announce", high=MAX_ANNOUNCE_BYTES),
        )

    @classmethod
    def largest(cls) -> Self:
        return cls(MAX_HOPS, (_LONG_ADDRESS,) * MAX_HOPS, bytes(MAX_ANNOUNCE_BYTES))


def _check_path(path: tuple[Address, ...]) -> None:
    if len(path) > MAX_HOPS:
        raise MalformedMessageError(f"path: at most {MAX_HOPS} addresses")
    for address in path:
        _check_address(address, "path")


def _path_value(path: tuple[Address, ...]) -> list[CborValue]:
    return [address_value(a) for a in path]


def _parse_path(value: CborValue) -> tuple[Address, ...]:
    return tuple(parse_address(item, "path") for item in _list(value, "path", MAX_HOPS))


@dataclass(frozen=True)
class PathUpdate(RelayMessage):
    """Parent -> children: its own path changed (it re-parented), so theirs did too: ``path`` from the parent up."""

    OP: ClassVar[str] = "path"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"hops", "path"})
    MAX_BYTES: ClassVar[int] = 9 * 1024
    hops: int
    path: tuple[Address, ...]

    def __post_init__(self) -> None:
        _integer(self.hops, "hops", 1, MAX_HOPS)
        _check_path(self.path)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "hops": self.hops, "path": _path_value(self.path)}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(_integer(value.get("hops"), "hops", 1, MAX_HOPS), _parse_path(value.get("path")))

    @classmethod
    def largest(cls) -> Self:
        return cls(MAX_HOPS, (_LONG_ADDRESS,) * MAX_HOPS)


@dataclass(frozen=True)
class Redirect(RelayMessage):
    """Node -> joiner: not admitted (``reason``); ``candidates`` may have room."""

    OP: ClassVar[str] = "redirect"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"reason", "candidates"})
    MAX_BYTES: ClassVar[int] = 5 * 1024
    reason: str
    candidates: tuple[Candidate, ...] = ()

    def __post_init__(self) -> None:
        _text(self.reason, "reason", MAX_REASON_CHARS)
        if len(self.candidates) > MAX_CANDIDATES:
            raise MalformedMessageError(f"candidates: at most {MAX_CANDIDATES}")

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "reason": self.reason, "candidates": [c.to_value() for c in self.candidates]}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(
            _text(value.get("reason"), "reason", MAX_REASON_CHARS),
            tuple(parse_candidates(value.get("candidates"))),
        )

    @classmethod
    def largest(cls) -> Self:
        candidate = Candidate(_LONG_ADDRESS, MAX_HOPS, MAX_FREE_CLAIM)
        return cls("r" * MAX_REASON_CHARS, (candidate,) * MAX_CANDIDATES)


@dataclass(frozen=True)
class Ping(RelayMessage):
    """Child -> parent keepalive: ``t`` echoed back, ``free`` the slots the child claims (at most 16)."""

    OP: ClassVar[str] = "ping"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"t", "free"})
    MAX_BYTES: ClassVar[int] = 40
    t: int
    free: int

    def __post_init__(self) -> None:
        _integer(self.t, "t", 0, MAX_UINT63)
        _integer(self.free, "free", 0, MAX_FREE_CLAIM)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "t": self.t, "free": self.free}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(
            _integer(value.get("t"), "t", 0, MAX_UINT63),
            _integer(value.get("free"), "free", 0, MAX_FREE_CLAIM),
        )

    @classmethod
    def largest(cls) -> Self:
        return cls(MAX_UINT63, MAX_FREE_CLAIM)


@dataclass(frozen=True)
class Pong(RelayMessage):
    """Parent -> child: the ping's ``t``, the parent's ``hops`` and ``free`` slots."""

    OP: ClassVar[str] = "pong"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"t", "hops", "free"})
    MAX_BYTES: ClassVar[int] = 48
    t: int
    hops: int
    free: int

    def __post_init__(self) -> None:
        _integer(self.t, "t", 0, MAX_UINT63)
        _integer(self.hops, "hops", 0, MAX_HOPS)
        _integer(self.free, "free", 0, MAX_FREE_CLAIM)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "t": self.t, "hops": self.hops, "free": self.free}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(
            _integer(value.get("t"), "t", 0, MAX_UINT63),
            _integer(value.get("hops"), "hops", 0, MAX_HOPS),
            _integer(value.get("free"), "free", 0, MAX_FREE_CLAIM),
        )

    @classmethod
    def largest(cls) -> Self:
        return cls(MAX_UINT63, MAX_HOPS, MAX_FREE_CLAIM)


@dataclass(frozen=True)
class Nack(RelayMessage):
    """Child -> parent: these frames never came; resend them (at most 64 per message, rate-limited)."""

    OP: ClassVar[str] = "nack"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"seqs"})
    MAX_BYTES: ClassVar[int] = 16 + MAX_NACK * 9
    seqs: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.seqs) > MAX_NACK:
            raise MalformedMessageError(f"seqs: at most {MAX_NACK}")
        for seq in self.seqs:
            _integer(seq, "seq", 0, MAX_UINT63)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "seqs": list(self.seqs)}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        items = _list(value.get("seqs"), "seqs", MAX_NACK)
        return cls(tuple(_integer(seq, "seq", 0, MAX_UINT63) for seq in items))

    @classmethod
    def largest(cls) -> Self:
        return cls((MAX_UINT63,) * MAX_NACK)


@dataclass(frozen=True)
class Pay(RelayMessage):
    """Child -> parent (a priced stream's DJ): a signed ``listen_voucher`` envelope, untouched.

    On the link the DJ serves, a voucher arrives in one round trip; gossip to the DJ's inbox took 1-4 s on a
    loaded machine, longer than the paywall's grace. The envelope is decoded and checked by the DJ.
    """

    OP: ClassVar[str] = "pay"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"voucher"})
    MAX_BYTES: ClassVar[int] = 32 + MAX_VOUCHER_BYTES
    voucher: bytes

    def __post_init__(self) -> None:
        _blob(self.voucher, "voucher", low=1, high=MAX_VOUCHER_BYTES)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "voucher": self.voucher}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(_blob(value.get("voucher"), "voucher", low=1, high=MAX_VOUCHER_BYTES))

    @classmethod
    def largest(cls) -> Self:
        return cls(bytes(MAX_VOUCHER_BYTES))


@dataclass(frozen=True)
class Leave(RelayMessage):
    """Child -> parent: stop sending, I am going."""

    OP: ClassVar[str] = "leave"
    MAX_BYTES: ClassVar[int] = 16

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls()

    @classmethod
    def largest(cls) -> Self:
        return cls()


@dataclass(frozen=True)
class Manifest(RelayMessage):
    """Parent -> child: a signed segment manifest, passed on untouched once it verified."""

    OP: ClassVar[str] = "manifest"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"data"})
    MAX_BYTES: ClassVar[int] = MAX_MANIFEST_BYTES + 32
    data: bytes

    def __post_init__(self) -> None:
        _blob(self.data, "data", low=1, high=MAX_MANIFEST_BYTES)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "data": self.data}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(_blob(value.get("data"), "data", low=1, high=MAX_MANIFEST_BYTES))

    @classmethod
    def largest(cls) -> Self:
        return cls(bytes(MAX_MANIFEST_BYTES))


@dataclass(frozen=True)
class Frames(RelayMessage):
    """Parent -> child, reliably: frame datagrams for a catch-up or a resend (at most 48 per message)."""

    OP: ClassVar[str] = "frames"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"data"})
    MAX_BYTES: ClassVar[int] = 32 + MAX_BATCH_FRAMES * (MAX_FRAME_DATAGRAM + 3)
    data: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if not 1 <= len(self.data) <= MAX_BATCH_FRAMES:
            raise MalformedMessageError(f"data: 1..{MAX_BATCH_FRAMES} frames")
        for frame in self.data:
            _blob(frame, "frame", low=1, high=MAX_FRAME_DATAGRAM)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "data": list(self.data)}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        items = _list(value.get("data"), "data", MAX_BATCH_FRAMES)
        return cls(tuple(_blob(item, "frame", low=1, high=MAX_FRAME_DATAGRAM) for item in items))

    @classmethod
    def largest(cls) -> Self:
        return cls((bytes(MAX_FRAME_DATAGRAM),) * MAX_BATCH_FRAMES)


def frame_batches(datagrams: Iterable[bytes]) -> list[Frames]:
    """Frame datagrams as as many ``Frames`` messages as it takes (each under the control limit)."""
    items = list(datagrams)
    return [Frames(tuple(items[i : i + MAX_BATCH_FRAMES])) for i in range(0, len(items), MAX_BATCH_FRAMES)]


@dataclass(frozen=True)
class Disown(RelayMessage):
    """Parent -> children: the frames ``from_seq`` .. ``upto`` - 1 it passed on came from a parent it left for bad data.

    A relay forwards frames before it can check them, so its children hold what its parent forged; they
    drop those frames unverified (the good ones come again once it has a new parent) and do not blame it
    for them. A child believes a bounded number of these per parent (``MAX_DISOWNS``), within a bounded
    range: a liar can use one to hide some forged frames, not to forge for ever.
    """

    OP: ClassVar[str] = "disown"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"from_seq", "upto"})
    MAX_BYTES: ClassVar[int] = 48
    from_seq: int
    upto: int

    def __post_init__(self) -> None:
        _integer(self.from_seq, "from_seq", 0, MAX_UINT63)
        _integer(self.upto, "upto", self.from_seq, MAX_UINT63)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "from_seq": self.from_seq, "upto": self.upto}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        from_seq = _integer(value.get("from_seq"), "from_seq", 0, MAX_UINT63)
        return cls(from_seq, _integer(value.get("upto"), "upto", from_seq, MAX_UINT63))

    @classmethod
    def largest(cls) -> Self:
        return cls(MAX_UINT63, MAX_UINT63)


@dataclass(frozen=True)
class End(RelayMessage):
    """Parent -> child: the DJ's signed ``stream_end`` envelope (the child checks it)."""

    OP: ClassVar[str] = "end"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"data"})
    MAX_BYTES: ClassVar[int] = MAX_END_BYTES + 32
    data: bytes

    def __post_init__(self) -> None:
        _blob(self.data, "data", low=1, high=MAX_END_BYTES)

    def to_value(self) -> dict[str, CborValue]:
        return {"op": self.OP, "data": self.data}

    @classmethod
    def from_value(cls, value: Mapping[str, CborValue]) -> Self:
        return cls(_blob(value.get("data"), "data", low=1, high=MAX_END_BYTES))

    @classmethod
    def largest(cls) -> Self:
        return cls(bytes(MAX_END_BYTES))


MESSAGES: tuple[type[RelayMessage], ...] = (
    Probe,
    ProbeOk,
    Join,
    Accept,
    PathUpdate,
    Redirect,
    Ping,
    Pong,
    Nack,
    Leave,
    Manifest,
    Frames,
    End,
    Disown,
    Pay,
)
_BY_OP: dict[str, type[RelayMessage]] = {cls.OP: cls for cls in MESSAGES}
assert all(cls.MAX_BYTES <= MAX_CONTROL_BYTES for cls in MESSAGES)


def decode_relay(value: Mapping[str, CborValue]) -> RelayMessage:
    """A received control map as its typed message, or ``MalformedMessageError`` saying what is wrong."""
    op = value.get("op")
    cls = _BY_OP.get(op) if isinstance(op, str) else None
    if cls is None:
        raise MalformedMessageError(f"unknown control op {str(op)[:32]!r}")
    _fields(value, cls.OP, cls.FIELDS)
    try:
        return cls.from_value(value)
    except MalformedMessageError as exc:
        raise MalformedMessageError(f"{cls.OP}: {exc}") from None
