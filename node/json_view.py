"""How signed messages look in the JSON the CLI and the control API print (bytes as hex)."""

from __future__ import annotations

from typing import Any

from djmesh.protocol.envelope import SignedEnvelope


def plain(value: Any) -> Any:
    """A CBOR value as JSON can hold it: byte strings become hex."""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    return value


def envelope_json(envelope: SignedEnvelope, *, received_at_ms: int | None = None) -> dict[str, Any]:
    view = {
        "id": envelope.content_id.hex(),
        "kind": envelope.kind,
        "author": envelope.author_peer_id,
        "created_at": envelope.created_at_ms,
        "payload": plain(envelope.message.to_payload()),
    }
    if received_at_ms is not None:
        view["received_at"] = received_at_ms
    return view
