"""Errors of the MIDI bridge: each is one line a user can act on."""

from __future__ import annotations

from djmesh.node.errors import NodeError


class MidiError(NodeError):
    """No usable MIDI backend, or a port cannot be opened."""


class MappingError(MidiError):
    """A mapping file is not valid; the message starts with ``FILE:LINE:``."""
