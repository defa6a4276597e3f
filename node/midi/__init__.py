"""MIDI: clock in (tempo and phase for the stream's metadata), clock out, and controller mappings.

The clock logic (``clock.ClockTracker``) and the mapping (``mapping.Mapping``) do no I/O; the
ports (``ports``) are python-rtmidi through mido, ALSA by default, JACK with
``MIDO_BACKEND=mido.backends.rtmidi/UNIX_JACK``. ``djmesh midi ...`` is in ``cli``.
"""

from __future__ import annotations

from djmesh.node.midi.clock import ClockState, ClockTracker
from djmesh.node.midi.errors import MappingError, MidiError
from djmesh.node.midi.sender import ClockSender, SenderStats

__all__ = ["ClockSender", "ClockState", "ClockTracker", "MappingError", "MidiError", "SenderStats"]
