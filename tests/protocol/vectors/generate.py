"""Regenerate envelopes.json: `python tests/protocol/vectors/generate.py`.

Only when the wire format changes on purpose (with a new protocol version). The vectors let
another implementation check itself against ours: keys are fixed seeds, times are fixed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import nacl.signing

from djmesh.protocol import Chat, CrewMembership, Follow, Message, Post, Profile, Reaction, cbor, sign
from djmesh.protocol.envelope import SIGNING_CONTEXT

SEED = bytes(range(32))
NOW = 1_790_000_000_000
CID = bytes.fromhex("5f1bc5f89b2edaa70e980501545235d93cba49f749152bace2b9d2547b8f92df")


def plain(value: cbor.CborValue) -> Any:
    """JSON view of a CBOR value: byte strings become {"bytes": hex}."""
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def valid_cases(key: nacl.signing.SigningKey) -> list[dict[str, Any]]:
    messages: list[tuple[str, Message]] = [
        ("post", Post("hello djmesh")),
        (
            "post-unicode-reply",
            Post("Grüße 🎧 from the booth", reply_to=CID, mentions=(bytes(key.verify_key),)),
        ),
        (
            "profile",
            Profile(name="DJ Vector", bio="test", links=("https://example.org",), wallets=(("eth", "0x00"),)),
        ),
        ("follow", Follow(bytes(range(32, 64)))),
        ("reaction", Reaction(target=CID, emoji="🔥")),
        ("chat", Chat(room="battle-0001", text="gg")),
        ("crew-membership", CrewMembership(crew=CID, member=bytes(range(32, 64)))),
    ]
    cases = []
    for index, (name, message) in enumerate(messages):
        envelope = sign(message, key, created_at_ms=NOW + index)
        unsigned = {k: v for k, v in cbor.decode(envelope.wire).items() if k != "s"}  # type: ignore[union-attr]
        cases.append(
            {
                "name": name,
                "wire": envelope.wire.hex(),
                "signed_bytes": (SIGNING_CONTEXT + cbor.encode(unsigned)).hex(),
                "content_id": envelope.content_id.hex(),
                "kind": envelope.kind,
                "version": envelope.version,
                "author": envelope.author.hex(),
                "author_peer_id": envelope.author_peer_id,
                "created_at_ms": envelope.created_at_ms,
                "payload": plain(unsigned["p"]),
            }
        )
    return cases


def invalid_cases(key: nacl.signing.SigningKey, valid: list[dict[str, Any]]) -> list[dict[str, str]]:
    wire = bytes.fromhex(valid[0]["wire"])
    fields = cbor.decode(wire)
    assert isinstance(fields, dict)

    def resigned(**changes: cbor.CborValue) -> str:
        unsigned = {k: v for k, v in {**fields, **changes}.items() if k != "s"}
        signature = key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature
        return cbor.encode({**unsigned, "s": signature}).hex()

    flipped = bytearray(wire)
    flipped[-20] ^= 0x01  # inside the signature (the wire ends with "t" and "v": 14 bytes)
    return [
        {"name": "bad-signature", "wire": flipped.hex(), "error": "BadSignatureError"},
        {"name": "unknown-version", "wire": resigned(v=99), "error": "UnsupportedVersionError"},
        {"name": "unknown-kind", "wire": resigned(k="teleport"), "error": "UnknownKindError"},
        {"name": "future", "wire": resigned(t=NOW + 3_600_000), "error": "FutureTimestampError"},
        {"name": "non-canonical-head", "wire": "b806" + wire[1:].hex(), "error": "NonCanonicalError"},
        {"name": "empty-post", "wire": resigned(p={"text": ""}), "error": "InvalidPayloadError"},
        {"name": "truncated", "wire": wire[:-1].hex(), "error": "DecodeError"},
    ]


def main() -> None:
    key = nacl.signing.SigningKey(SEED)
    valid = valid_cases(key)
    document = {
        "description": "djmesh envelope v1 test vectors; see docs/PROTOCOL.md",
        "signing_seed": SEED.hex(),
        "now_ms": NOW + 100,
        "max_skew_ms": 120_000,
        "valid": valid,
        "invalid": invalid_cases(key, valid),
    }
    out = Path(__file__).with_name("envelopes.json")
    out.write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
