"""Relayed anonymous votes (sans-IO): the request/response pair a listener and a relaying peer exchange.

A listener who paid a listen unit in a ListenGate battle proves membership with a Groth16 proof and
asks another peer, the *relayer*, to send the ``vote`` transaction from the relayer's own address, so
the paying address is not the vote's sender. This travels as one libp2p request/response stream per
exchange, never as gossip: a gossip envelope is signed and published by its author, which would tie
the vote to the listener's peer key for everyone on the mesh.

Two requests, three replies (CBOR maps, ``type`` says which):

- ``info``: which chain, which gate and which EVM address the relayer sends from. The listener needs
  the address before proving, because the proof is bound to ``msg.sender``.
- ``vote``: battle ID, choice, Merkle root, nullifier and the 8 proof words (field elements as 32-byte
  big-endian strings: CBOR integers stop at 64 bits).
- replies: ``info``; ``submitted`` (transaction hash and nullifier); ``refused`` (a short reason and
  ``retry``: true when another relayer may succeed, false when the vote itself is refused).

This module checks shapes and ranges only; whether a proof is valid is for the chain (or its eth_call).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from djmesh.protocol import cbor
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import DecodeError, MalformedMessageError, MessageTooLargeError, ProtocolError
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit

VOTE_RELAY_PROTOCOL_ID = "/djmesh/vote-relay/1.0.0"
MAX_RELAY_REQUEST_BYTES = 1024  # a vote request is about 480 bytes
MAX_RELAY_REPLY_BYTES = 1024
MAX_REASON_CHARS = 200
MAX_CHOICES = 8  # ListenGate's MAX_DJS
PROOF_WORDS = 8
# BN254: public inputs live in the scalar field, proof coordinates in the base field (both < 2^254).
SCALAR_FIELD = 21888242871839275222246405745257275088548364400416034343698204186575808495617
BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class VoteRelayError(ProtocolError):
    """A vote-relay message was refused; the subclasses say why."""


class RelayMessageTooLargeError(VoteRelayError, MessageTooLargeError):
    """Over the size limit: refused before decoding."""


class MalformedRelayMessageError(VoteRelayError, MalformedMessageError):
    """Not CBOR, wrong fields, wrong types, or a number outside its range."""


@dataclass(frozen=True)
class InfoRequest:
    def encode(self) -> bytes:
        return cbor.encode({"type": "info"})


@dataclass(frozen=True)
class VoteRequest:
    battle_id: bytes
    choice: int
    root: int
    nullifier: int
    proof: tuple[int, ...]  # ListenGate's 8 words: A.x, A.y, B (EIP-197 order), C.x, C.y

    def __post_init__(self) -> None:
        if len(self.battle_id) != 32:
            raise MalformedRelayMessageError("battle ID must be 32 bytes")
        if not 0 <= self.choice < MAX_CHOICES:
            raise MalformedRelayMessageError(f"choice must be 0..{MAX_CHOICES - 1}")
        for name, value in (("root", self.root), ("nullifier", self.nullifier)):
            if not 0 <= value < SCALAR_FIELD:
                raise MalformedRelayMessageError(f"{name} is not a BN254 scalar")
        if len(self.proof) != PROOF_WORDS or not all(0 <= word < BASE_FIELD for word in self.proof):
            raise MalformedRelayMessageError(f"proof must be {PROOF_WORDS} BN254 base-field words")

    def encode(self) -> bytes:
        return cbor.encode(
            {
                "type": "vote",
                "battle": self.battle_id,
                "choice": self.choice,
                "root": _word(self.root),
                "nullifier": _word(self.nullifier),
                "proof": [_word(w) for w in self.proof],
            }
        )


RelayRequest = InfoRequest | VoteRequest


@dataclass(frozen=True)
class RelayInfo:
    relayer: str  # the EVM address the relayer sends from (the proof's msg.sender)
    chain_id: int
    gate: str

    def __post_init__(self) -> None:
        for name in ("relayer", "gate"):
            if not _ADDRESS.fullmatch(getattr(self, name)):
                raise MalformedRelayMessageError(f"{name} must be an EVM address")
        if not 0 < self.chain_id < 2**63:
            raise MalformedRelayMessageError("chain_id must be 1..2^63-1")

    def encode(self) -> bytes:
        return cbor.encode(
            {"type": "info", "relayer": self.relayer, "chain_id": self.chain_id, "gate": self.gate}
        )


@dataclass(frozen=True)
class VoteSubmitted:
    """The relayer handed the transaction to its chain node; the listener checks the receipt itself."""

    tx_hash: bytes
    nullifier: int

    def __post_init__(self) -> None:
        if len(self.tx_hash) != 32:
            raise MalformedRelayMessageError("transaction hash must be 32 bytes")
        if not 0 <= self.nullifier < SCALAR_FIELD:
            raise MalformedRelayMessageError("nullifier is not a BN254 scalar")

    def encode(self) -> bytes:
        return cbor.encode({"type": "submitted", "tx": self.tx_hash, "nullifier": _word(self.nullifier)})


@dataclass(frozen=True)
class RelayRefused:
    """``retry``: another relayer may succeed (busy, rate-limited, no gas money, chain unreachable)."""

    reason: str
    retry: bool

    def __post_init__(self) -> None:
        if not 0 < len(self.reason) <= MAX_REASON_CHARS:
            raise MalformedRelayMessageError(f"reason must be 1..{MAX_REASON_CHARS} characters")

    @classmethod
    def because(cls, reason: str, *, retry: bool) -> RelayRefused:
        """Build a refusal from any text, cut to the limit."""
        text = " ".join(reason.split()) or "refused"
        return cls(text[:MAX_REASON_CHARS], retry)

    def encode(self) -> bytes:
        return cbor.encode({"type": "refused", "reason": self.reason, "retry": self.retry})


RelayReply = RelayInfo | VoteSubmitted | RelayRefused


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def _map(data: bytes, limit: int, what: str) -> dict[str | int, CborValue]:
    if len(data) > limit:
        raise RelayMessageTooLargeError(f"{what} of {len(data)} bytes exceeds {limit}")
    try:
        value = cbor.decode(data)
    except DecodeError as exc:
        raise MalformedRelayMessageError(f"{what} is not canonical CBOR: {exc}") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise MalformedRelayMessageError(f"{what} must be a map with a type")
    return value


def _fields(value: dict[str | int, CborValue], expected: set[str], what: str) -> None:
    if set(value) != expected:
        raise MalformedRelayMessageError(f"{what} must have exactly {', '.join(sorted(expected))}")


def _int(value: CborValue, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise MalformedRelayMessageError(f"{name} must be an integer")
    return value


def _text(value: CborValue, name: str) -> str:
    if not isinstance(value, str):
        raise MalformedRelayMessageError(f"{name} must be text")
    return value


def _bytes32(value: CborValue, name: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != 32:
        raise MalformedRelayMessageError(f"{name} must be 32 bytes")
    return value


def decode_request(data: bytes) -> RelayRequest:
    value = _map(data, MAX_RELAY_REQUEST_BYTES, "relay request")
    kind = value["type"]
    if kind == "info":
        _fields(value, {"type"}, "an info request")
        return InfoRequest()
    if kind != "vote":
        raise MalformedRelayMessageError(f"unknown relay request type {str(kind)[:32]!r}")
    _fields(value, {"type", "battle", "choice", "root", "nullifier", "proof"}, "a vote request")
    proof = value["proof"]
    if not isinstance(proof, list) or len(proof) != PROOF_WORDS:
        raise MalformedRelayMessageError(f"proof must be a list of {PROOF_WORDS} words")
    return VoteRequest(
        battle_id=_bytes32(value["battle"], "battle"),
        choice=_int(value["choice"], "choice"),
        root=int.from_bytes(_bytes32(value["root"], "root"), "big"),
        nullifier=int.from_bytes(_bytes32(value["nullifier"], "nullifier"), "big"),
        proof=tuple(int.from_bytes(_bytes32(w, "proof word"), "big") for w in proof),
    )


def decode_reply(data: bytes) -> RelayReply:
    value = _map(data, MAX_RELAY_REPLY_BYTES, "relay reply")
    kind = value["type"]
    if kind == "info":
        _fields(value, {"type", "relayer", "chain_id", "gate"}, "an info reply")
        return RelayInfo(
            _text(value["relayer"], "relayer"),
            _int(value["chain_id"], "chain_id"),
            _text(value["gate"], "gate"),
        )
    if kind == "submitted":
        _fields(value, {"type", "tx", "nullifier"}, "a submitted reply")
        nullifier = int.from_bytes(_bytes32(value["nullifier"], "nullifier"), "big")
        return VoteSubmitted(_bytes32(value["tx"], "tx"), nullifier)
    if kind == "refused":
        _fields(value, {"type", "reason", "retry"}, "a refused reply")
        retry = value["retry"]
        if not isinstance(retry, bool):
            raise MalformedRelayMessageError("retry must be a boolean")
        return RelayRefused(_text(value["reason"], "reason"), retry)
    raise MalformedRelayMessageError(f"unknown relay reply type {str(kind)[:32]!r}")


class RelayLimiter(KeyedTokenBuckets):
    """Per-peer budget of relay requests (each vote costs the relayer a chain call and gas)."""

    def __init__(self, limit: RateLimit | None = None, *, tracked_peers: int = 4096) -> None:
        super().__init__(limit or RateLimit(burst=10.0, per_second=0.5), tracked=tracked_peers)
