"""A DJ's set as a file: what `battle_announce` and `battle_accept` take.

Either an audio file (anything PyAV opens: one track, named after the file, cued at 0) or a
TOML file that names the audio and declares the tracklist the DJ signs::

    source = "tonight.flac"          # relative to this file
    [[tracks]]
    title = "Opener"
    cue = "0:00"                     # from the set's start: seconds, or m:ss
    [[tracks]]
    title = "Second"
    cue = 312.5

Checked up front, so a bad set is an error when the battle is announced or accepted, not
silence when the set window opens.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djmesh.node.battle.service import DjSet
from djmesh.node.errors import NodeError
from djmesh.protocol.battle import MAX_TRACKS

MAX_TITLE_CHARS = 200


class SetFileError(NodeError):
    """The set file cannot be used; the message says why."""


@dataclass(frozen=True)
class LoadedSet:
    dj_set: DjSet
    seconds: float  # the audio's length (0.0 when the container does not say)


def _cue_ms(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise SetFileError(f"{where}: cue must be seconds or m:ss")
    if isinstance(value, str):
        minutes, _, seconds = value.strip().rpartition(":")
        try:
            total = float(seconds) + 60 * (int(minutes) if minutes else 0)
        except ValueError:
            raise SetFileError(f"{where}: cue {value!r} is not seconds or m:ss") from None
    else:
        total = float(value)
    if not 0 <= total < 2**32 / 1000:
        raise SetFileError(f"{where}: cue must be 0 or more seconds")
    return int(round(total * 1000))


def _tracklist(data: dict[str, Any], path: Path) -> tuple[tuple[str, ...], tuple[int, ...]]:
    tracks = data.get("tracks")
    if not isinstance(tracks, list) or not tracks:
        raise SetFileError(f"{path}: needs at least one [[tracks]] entry with a title and a cue")
    if len(tracks) > MAX_TRACKS:
        raise SetFileError(f"{path}: at most {MAX_TRACKS} tracks")
    titles, cues = [], []
    for number, track in enumerate(tracks, 1):
        where = f"{path}: track {number}"
        if not isinstance(track, dict):
            raise SetFileError(f"{where}: must be a table with title and cue")
        title = track.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE_CHARS:
            raise SetFileError(f"{where}: title must be 1..{MAX_TITLE_CHARS} characters")
        titles.append(title.strip())
        cues.append(_cue_ms(track.get("cue", 0), where))
    if any(b <= a for a, b in itertools.pairwise(cues)):
        raise SetFileError(f"{path}: cues must increase from one track to the next")
    return tuple(titles), tuple(cues)


def _audio_seconds(source: str) -> float:
    """Opens the audio (so a missing or broken file fails now) and reads its length."""
    from djmesh.node.live.capture import open_source
    from djmesh.node.live.errors import SourceError

    try:
        container = open_source(source)
    except SourceError as exc:
        raise SetFileError(str(exc)) from exc
    try:
        duration = container.duration
        return float(duration) / 1_000_000 if duration else 0.0
    finally:
        container.close()


def load_set(path: str | Path) -> LoadedSet:
    """Read and check a set file (blocking: it opens the audio; call it in a thread)."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise SetFileError(f"set file {file} does not exist")
    if file.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise SetFileError(f"{file}: not valid TOML ({exc})") from exc
        source = data.get("source")
        if not isinstance(source, str) or not source:
            raise SetFileError(f'{file}: needs source = "<audio file>"')
        audio = (file.parent / source).resolve() if "://" not in source else None
        titles, cues = _tracklist(data, file)
        source_text = str(audio) if audio is not None else source
    else:
        source_text, titles, cues = str(file.resolve()), (file.stem[:MAX_TITLE_CHARS] or "set",), (0,)
    seconds = _audio_seconds(source_text)
    if seconds and cues[-1] >= seconds * 1000:
        raise SetFileError(f"{file}: the last cue is past the end of the audio ({seconds:.0f} s)")
    return LoadedSet(DjSet(source_text, titles, cues), seconds)
