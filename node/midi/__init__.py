"""MIDI: clock in (tempo and phase for the stream's metadata), clock out, and controller mappings.

The clock logic (``clock.ClockTracker``) and the mapping (``mapping.Mapping``) do no I/O; the
ports (``ports``) are python-rtmidi through mido, ALSA by default, JACK with
``MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK``. ``djmesh midi ...`` is in ``cli``. Names are
resolved lazily so that registering that subcommand costs nothing.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from djmesh.node.midi.clock import ClockState, ClockTracker
    from djmesh.node.midi.errors import MappingError, MidiError
    from djmesh.node.midi.sender import ClockSender, SenderStats

_EXPORTS = {
    "ClockState": "djmesh.node.midi.clock",
    "ClockTracker": "djmesh.node.midi.clock",
    "MappingError": "djmesh.node.midi.errors",
    "MidiError": "djmesh.node.midi.errors",
    "ClockSender": "djmesh.node.midi.sender",
    "SenderStats": "djmesh.node.midi.sender",
}
__all__ = ["ClockSender", "ClockState", "ClockTracker", "MappingError", "MidiError", "SenderStats"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'djmesh.node.midi' has no attribute {name!r}")
