"""Live audio: signed Opus streams over a QUIC relay tree, listening, recording, set sharing.

``LiveService(node)`` is the entry point; see ``service.py``. Names are resolved lazily so that
``djmesh live ...`` (``djmesh.node.live.cli``) registers without importing PyAV, numpy or libp2p.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.node.live.consumers import ListenStats
    from djmesh.node.live.errors import LiveError, SourceError
    from djmesh.node.live.service import LiveService, StreamInfo
    from djmesh.node.live.sets import SetSegment, StoredSet

_EXPORTS = {
    "ListenStats": "djmesh.node.live.consumers",
    "LiveError": "djmesh.node.live.errors",
    "SourceError": "djmesh.node.live.errors",
    "LiveService": "djmesh.node.live.service",
    "StreamInfo": "djmesh.node.live.service",
    "SetSegment": "djmesh.node.live.sets",
    "StoredSet": "djmesh.node.live.sets",
}
__all__ = ["ListenStats", "LiveError", "LiveService", "SetSegment", "SourceError", "StoredSet", "StreamInfo"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'djmesh.node.live' has no attribute {name!r}")
