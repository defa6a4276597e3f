"""Session setup and set sharing over libp2p request/response (``/djmesh/live/1.0.0``): no signalling server.

Requests are CBOR maps:

- ``{"op": "locate", "stream": id}`` -> ``{"announce": envelope | null, "end": envelope | null,
  "candidates": [{"addr": [host, port], "hops": n, "free": n}]}``: where to dial (QUIC) for this
  stream: the answering node itself if it carries it, and its children with room.
- ``{"op": "set", "stream": id, "from": index, "limit": n}`` -> ``{"announce": envelope,
  "end": envelope | null, "segments": [{"m": manifest, "f": [frame | null]}], "more": bool}``:
  a stored set, a page at a time; the fetcher verifies every page against the DJ's key.
- ``{"op": "segments", "stream": id, "from": index, "limit": n}`` -> ``{"announce": envelope,
  "end": envelope | null, "segments": [...], "more": false}``: the whole segments held (a stored
  set or a listener's recording, holes and all) with an index in ``from``..``from + limit - 1``,
  ascending: how a listener fills the gaps of its recording from whichever peers hold them.
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.protocol import cbor
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import MalformedMessageError
from djmesh.protocol.relay import MAX_CANDIDATES, Address, Candidate

PROTOCOL_ID = "/djmesh/live/1.0.0"
MAX_REQUEST_BYTES = 1024
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
SET_PAGE_SEGMENTS = 30


@dataclass(frozen=True)
class Request:
    op: str
    stream: bytes
    start: int = 0
    limit: int = SET_PAGE_SEGMENTS

    def encode(self) -> bytes:
        body: dict[cbor.CborKey, CborValue] = {"op": self.op, "stream": self.stream}
        if self.op in ("set", "segments"):
            body.update({"from": self.start, "limit": self.limit})
        return cbor.encode(body)

    @classmethod
    def decode(cls, data: bytes) -> Request:
        value = cbor.decode(data)
        if not isinstance(value, dict):
            raise MalformedMessageError("live request must be a map")
        op, stream = value.get("op"), value.get("stream")
        if op not in ("locate", "set", "segments") or not isinstance(stream, bytes) or len(stream) != 32:
            raise MalformedMessageError("live request needs op locate|set|segments and a 32-byte stream")
        assert isinstance(op, str)
        start, limit = value.get("from", 0), value.get("limit", SET_PAGE_SEGMENTS)
        if not isinstance(start, int) or not isinstance(limit, int) or start < 0 or not 1 <= limit <= 200:
            raise MalformedMessageError("live request: from >= 0, limit 1..200")
        return cls(op, stream, start, min(limit, SET_PAGE_SEGMENTS))


def encode_map(value: dict[str, CborValue]) -> bytes:
    return cbor.encode(dict(value.items()))


def decode_map(data: bytes) -> dict[str, CborValue]:
    value = cbor.decode(data)
    if not isinstance(value, dict):
        raise MalformedMessageError("live response must be a map")
    return {str(k): v for k, v in value.items()}


def parse_candidates(value: CborValue) -> list[Address]:
    """The addresses in a locate answer's candidates; malformed entries are skipped."""
    out: list[Address] = []
    for item in value[:MAX_CANDIDATES] if isinstance(value, list) else []:
        try:
            out.append(Candidate.from_value(item).address)
        except MalformedMessageError:
            continue
    return out
