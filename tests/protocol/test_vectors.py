"""The committed golden vectors: the wire format must not drift without a new version."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import nacl.signing
import pytest

from djmesh.protocol import MESSAGE_KINDS, cbor, decode_envelope, errors, sign
from tests.protocol.vectors.generate import plain

VECTORS = json.loads((Path(__file__).parent / "vectors" / "envelopes.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda case: case["name"])
def test_valid_vector_decodes_to_its_fields(case: dict[str, Any]) -> None:
    wire = bytes.fromhex(case["wire"])
    envelope = decode_envelope(wire, now_ms=VECTORS["now_ms"], max_skew_ms=VECTORS["max_skew_ms"])
    assert envelope.content_id.hex() == case["content_id"] == hashlib.sha256(wire).hexdigest()
    assert envelope.kind == case["kind"]
    assert envelope.version == case["version"]
    assert envelope.author.hex() == case["author"]
    assert envelope.author_peer_id == case["author_peer_id"]
    assert envelope.created_at_ms == case["created_at_ms"]
    assert plain(cbor.decode(wire)["p"]) == case["payload"]  # type: ignore[call-overload]
    verify_key = nacl.signing.VerifyKey(envelope.author)
    verify_key.verify(bytes.fromhex(case["signed_bytes"]), envelope.signature)


@pytest.mark.parametrize("case", VECTORS["valid"], ids=lambda case: case["name"])
def test_signing_the_same_message_reproduces_the_vector_bytes(case: dict[str, Any]) -> None:
    key = nacl.signing.SigningKey(bytes.fromhex(VECTORS["signing_seed"]))
    message = MESSAGE_KINDS[case["kind"]].parse(cbor.decode(bytes.fromhex(case["wire"]))["p"])  # type: ignore[call-overload]
    assert sign(message, key, created_at_ms=case["created_at_ms"]).wire.hex() == case["wire"]


@pytest.mark.parametrize("case", VECTORS["invalid"], ids=lambda case: case["name"])
def test_invalid_vector_is_refused_with_its_error(case: dict[str, Any]) -> None:
    error = getattr(errors, case["error"])
    with pytest.raises(error):
        decode_envelope(
            bytes.fromhex(case["wire"]), now_ms=VECTORS["now_ms"], max_skew_ms=VECTORS["max_skew_ms"]
        )
