"""The virtual ``djmesh`` MIDI input without a native callback: a Python thread polls RtMidi's queue.

With a callback, python-rtmidi runs Python on the JACK (or ALSA) thread; closing the port drops
that callback while the native thread may be waiting for the GIL to run it, and the process dies
of a segmentation fault (`djmesh midi monitor` did, about once in 17 runs on a busy machine, when
clock kept arriving as it closed). Polled, the native thread only fills RtMidi's queue, so the
port closes safely whatever is arriving. Each message keeps the time the MIDI layer stamped on it
(RtMidi's delta times), so a poll that runs late on a busy machine does not bend the tempo.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

POLL_S = 0.002  # an idle port's wake-ups; timing comes from the MIDI layer, not from the poll

# (message, arrival time on ``clock``)
InputCallback = Callable[[Any, float], None]


class PolledInput:
    """An open RtMidi input whose messages a daemon thread hands to ``callback(message, at)``."""

    def __init__(
        self, rt: Any, callback: InputCallback, *, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        self._rt = rt
        self._callback = callback
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="djmesh-midi-in", daemon=True)
        self._thread.start()

    @classmethod
    def open_virtual(
        cls, name: str, client_name: str, api: str | None, callback: InputCallback
    ) -> PolledInput:
        import rtmidi  # type: ignore[import-untyped]

        rtapi = getattr(rtmidi, f"API_{api}") if api else rtmidi.API_UNSPECIFIED
        rt = rtmidi.MidiIn(rtapi=rtapi, name=client_name)
        try:
            rt.ignore_types(sysex=False, timing=False, active_sense=True)  # clock is what we are here for
            rt.open_virtual_port(name)
        except BaseException:
            rt.delete()
            raise
        return cls(rt, callback)

    def _run(self) -> None:
        import mido  # type: ignore[import-untyped]

        last: float | None = None
        while not self._stop.is_set():
            got = self._rt.get_message()
            if got is None:
                self._stop.wait(POLL_S)
                continue
            data, delta = got
            now = self._clock()
            at = now if last is None else min(last + delta, now)  # never in the future of the poll
            last = at
            try:
                message = mido.Message.from_bytes(data)
            except ValueError:
                log.debug("dropped a malformed MIDI message %r", data)
                continue
            try:
                self._callback(message, at)
            except Exception:
                log.exception("MIDI input handler failed on %s", message)

    def close(self) -> None:
        """Stop the poller, then close the port (no Python runs on the native thread, so nothing races)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()
        self._rt.close_port()
        self._rt.delete()
