"""MIDI ports through mido (python-rtmidi): the virtual ``djmesh`` in and out ports, listing, errors.

The backend is mido's: ``MIDO_BACKEND`` names it (``mido.backends.rtmidi`` is ALSA on Linux;
``mido.backends.rtmidi/UNIX_JACK`` is JACK). Where the backend cannot start (no ALSA sequencer,
no JACK server) the C libraries print their own complaints on stderr; we keep those for the
debug log and raise one ``MidiError`` line that names the fix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from typing import Any

from djmesh.node.midi.errors import MidiError
from djmesh.node.midi.polled_input import InputCallback, PolledInput

log = logging.getLogger(__name__)

PORT_NAME = "djmesh"
OUT_CLIENT_NAME = "djmesh-out"  # JACK wants distinct client names; the ports are both "djmesh"
DEFAULT_BACKEND = "mido.backends.rtmidi"
JACK_BACKEND = "mido.backends.rtmidi/UNIX_JACK"
JACK_FIX = (
    f"start JACK (`jackd -d dummy -r 48000`, or your sound card's driver) and set MIDO_BACKEND={JACK_BACKEND}"
)


def backend_name() -> str:
    return os.environ.get("MIDO_BACKEND") or DEFAULT_BACKEND


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Route fd 2 to a file while C code runs (ALSA and JACK print there); yields what was printed."""
    captured: list[str] = []
    with tempfile.TemporaryFile(mode="w+b") as sink:
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                captured.append(text)
                log.debug("MIDI backend said: %s", text)


def _explain(exc: BaseException, name: str) -> MidiError:
    detail = " ".join(str(exc).split())
    if "JACK" in name.upper() or "Jack" in detail:
        server = os.environ.get("JACK_DEFAULT_SERVER", "default")
        return MidiError(
            f"no JACK server is running (JACK_DEFAULT_SERVER={server}): start one, e.g. "
            f"`jackd -n {server} -d dummy -r 48000`, then try again"
        )
    if "ALSA" in detail or "Alsa" in detail:
        return MidiError(f"no MIDI backend: the ALSA sequencer is unavailable (no /dev/snd/seq); {JACK_FIX}")
    return MidiError(f"no MIDI backend ({name}): {detail}; {JACK_FIX}")


def _guarded(name: str, action: Callable[[], Any]) -> Any:
    os.environ.setdefault("JACK_NO_START_SERVER", "1")  # never spawn an audio server behind the user's back
    try:
        with _captured_stderr():
            return action()
    except MidiError:
        raise
    except (OSError, RuntimeError) as exc:  # rtmidi's SystemError is an OSError
        raise _explain(exc, name) from exc


def load_backend() -> Any:
    """The mido backend named by ``MIDO_BACKEND`` (loaded), or a clear ``MidiError``."""
    import mido  # type: ignore[import-untyped]

    name = backend_name()
    try:
        backend = mido.Backend(name, load=True)
    except ImportError as exc:
        raise MidiError(f"MIDO_BACKEND={name}: cannot load it ({exc})") from exc
    api = getattr(backend, "api", None)
    if api:
        known = _guarded(name, lambda: backend.module.get_api_names())
        if api not in known:
            raise MidiError(f"MIDO_BACKEND={name}: unknown API {api!r} (this build has {', '.join(known)})")
    return backend


def list_ports() -> dict[str, Any]:
    backend = load_backend()
    name = backend_name()
    inputs = _guarded(name, backend.get_input_names)
    outputs = _guarded(name, backend.get_output_names)
    return {"backend": name, "inputs": list(inputs), "outputs": list(outputs)}


def open_virtual_input(callback: InputCallback) -> Any:
    """The virtual ``djmesh`` input (other software sends to it); ``callback(message, at)`` runs on its thread.

    ``at`` is the arrival time on ``time.perf_counter`` as the MIDI layer stamped it. With RtMidi
    (ALSA, JACK) the port is polled, never called back from native code (see ``polled_input``).
    """
    backend = load_backend()
    if getattr(backend.module, "__name__", "") != "mido.backends.rtmidi":
        return _guarded(
            backend_name(),
            lambda: backend.open_input(
                PORT_NAME,
                virtual=True,
                client_name=PORT_NAME,
                callback=lambda message: callback(message, time.perf_counter()),
            ),
        )
    api = getattr(backend, "api", None)
    return _guarded(backend_name(), lambda: PolledInput.open_virtual(PORT_NAME, PORT_NAME, api, callback))


def open_virtual_output() -> Any:
    """The virtual ``djmesh`` output (other software reads clock and feedback from it)."""
    backend = load_backend()
    return _guarded(
        backend_name(), lambda: backend.open_output(PORT_NAME, virtual=True, client_name=OUT_CLIENT_NAME)
    )


def open_output(port: str) -> Any:
    """An existing port by its listed name (``midi list``), for sending to it."""
    backend = load_backend()
    names = list_ports()["outputs"]
    if port not in names:
        raise MidiError(f"no MIDI output port {port!r}; ports: {', '.join(names) or '(none)'}")
    return _guarded(backend_name(), lambda: backend.open_output(port))
