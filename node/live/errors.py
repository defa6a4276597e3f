"""Errors of the live subsystem: shown to users as one line, never a crash of the node."""

from __future__ import annotations

from djmesh.node.errors import NodeError


class LiveError(NodeError):
    """A live operation failed (bad source, unknown stream, no route to it)."""


class SourceError(LiveError):
    """The audio source cannot be opened or decoded."""
