"""Live audio: signed Opus streams over a QUIC relay tree, listening, recording, set sharing.

``LiveService(node)`` is the entry point; see ``service.py``.
"""

from __future__ import annotations

from djmesh.node.live.consumers import ListenStats
from djmesh.node.live.errors import LiveError, SourceError
from djmesh.node.live.service import LiveService, StreamInfo
from djmesh.node.live.sets import SetSegment, StoredSet

__all__ = ["ListenStats", "LiveError", "LiveService", "SetSegment", "SourceError", "StoredSet", "StreamInfo"]
