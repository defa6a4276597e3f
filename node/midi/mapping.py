"""A MIDI mapping file (TOML): which note or CC triggers which node action. No I/O but reading text.

    [clock]
    declare_tempo = true        # tell the node the clock's tempo (it goes into the live stream's metadata)

    [[bind]]
    note = 36                   # or: cc = 64 (fires when the value rises to >= threshold, default 64)
    channel = 1                 # 1..16; omitted: any channel
    action = "track_change"     # track_change | react | set_start | set_end | post | chat
    title = "Second track"      # action parameters (see ACTIONS)

Errors name the file and line: ``mapping.toml:7: note must be 0..127 (got 200)``.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from djmesh.node.midi.errors import MappingError
from djmesh.protocol.stream import MAX_LIVE_BITRATE, MIN_BITRATE

# action -> (required parameters, optional parameters)
ACTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "track_change": (frozenset(), frozenset({"title"})),
    "react": (frozenset({"emoji"}), frozenset({"target"})),
    "set_start": (frozenset({"source"}), frozenset({"title", "bitrate"})),
    "set_end": (frozenset(), frozenset()),
    "post": (frozenset({"text"}), frozenset()),
    "chat": (frozenset({"room", "text"}), frozenset()),
}
TRIGGER_KEYS = frozenset({"note", "cc", "channel", "threshold", "action"})
CLOCK_KEYS = frozenset({"declare_tempo"})
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_KEY = re.compile(r'^\s*("(?:[^"\\]|\\.)*"|[A-Za-z0-9_-]+)\s*=')
_TABLE = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_-]+)\s*\]\]?")


@dataclass(frozen=True)
class Binding:
    kind: str  # "note" or "cc"
    number: int
    channel: int | None  # 0..15 (mido numbering); None: any
    action: str
    params: dict[str, Any] = field(default_factory=dict)
    threshold: int = 64
    line: int = 0

    def describe(self) -> str:
        where = f"ch{self.channel + 1} " if self.channel is not None else ""
        return f"{where}{self.kind} {self.number} -> {self.action}"


@dataclass
class Mapping:
    bindings: list[Binding]
    declare_tempo: bool = True
    _cc_values: dict[tuple[int, int], int] = field(default_factory=dict)

    def on_note(self, channel: int, note: int, velocity: int) -> list[Binding]:
        """A note-on (velocity 0 is a note-off and triggers nothing)."""
        if velocity <= 0:
            return []
        return [b for b in self.bindings if b.kind == "note" and b.number == note and _on(b, channel)]

    def on_cc(self, channel: int, cc: int, value: int) -> list[Binding]:
        """A control change; fires on the rising edge past each binding's threshold."""
        previous = self._cc_values.get((channel, cc), 0)
        self._cc_values[(channel, cc)] = value
        return [
            b
            for b in self.bindings
            if b.kind == "cc" and b.number == cc and _on(b, channel) and previous < b.threshold <= value
        ]


def _on(binding: Binding, channel: int) -> bool:
    return binding.channel is None or binding.channel == channel


class _Lines:
    """Where each table and key starts in the text (tomllib reports values, not positions)."""

    def __init__(self, text: str) -> None:
        self.binds: list[tuple[int, dict[str, int]]] = []
        self.tables: dict[str, tuple[int, dict[str, int]]] = {}
        self.top: dict[str, int] = {}
        current = self.top
        for number, line in enumerate(text.splitlines(), start=1):
            table = _TABLE.match(line)
            if table:
                current = {}
                if table.group(1) == "[[" and table.group(2) == "bind":
                    self.binds.append((number, current))
                else:
                    self.tables.setdefault(table.group(2), (number, current))
                continue
            key = _KEY.match(line)
            if key:
                current.setdefault(key.group(1).strip('"'), number)

    def bind(self, index: int, key: str | None = None) -> int:
        if index < len(self.binds):
            start, keys = self.binds[index]
            return keys.get(key, start) if key else start
        return self.top.get("bind", 1)


def load_mapping(path: Path | str) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"{path}: cannot read the mapping: {exc}") from exc
    return parse_mapping(text, str(path))


def parse_mapping(text: str, name: str = "mapping") -> Mapping:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        where = f"{match.group(1)}" if match else "1"
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise MappingError(f"{name}:{where}: not valid TOML: {reason}") from exc
    lines = _Lines(text)

    def fail(line: int, message: str) -> MappingError:
        return MappingError(f"{name}:{line}: {message}")

    for key in sorted(set(data) - {"bind", "clock"}):
        line = lines.top.get(key) or lines.tables.get(key, (1, {}))[0]
        raise fail(line, f"unknown setting {key!r} (expected [clock] and [[bind]] tables)")
    clock = data.get("clock", {})
    clock_line, clock_keys = lines.tables.get("clock", (1, {}))
    if not isinstance(clock, dict):
        raise fail(lines.top.get("clock", 1), "clock must be a table")
    for key in sorted(set(clock) - CLOCK_KEYS):
        raise fail(clock_keys.get(key, clock_line), f"unknown clock setting {key!r}")
    declare = clock.get("declare_tempo", True)
    if not isinstance(declare, bool):
        raise fail(clock_keys.get("declare_tempo", clock_line), "declare_tempo must be true or false")

    binds = data.get("bind", [])
    if not isinstance(binds, list) or not all(isinstance(b, dict) for b in binds):
        raise fail(lines.top.get("bind", 1), "bind must be an array of tables ([[bind]])")
    bindings: list[Binding] = []
    seen: dict[tuple[str, int, int | None, str], int] = {}
    for index, entry in enumerate(binds):
        binding = _binding(entry, index, lines, fail)
        trigger = (binding.kind, binding.number, binding.channel, binding.action)
        if trigger in seen:
            raise fail(binding.line, f"{binding.describe()} is already bound at line {seen[trigger]}")
        seen[trigger] = binding.line
        bindings.append(binding)
    return Mapping(bindings, declare_tempo=declare)


def _integer(entry: dict[str, Any], key: str, low: int, high: int, line: int, fail: Any) -> int:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise fail(line, f"{key} must be an integer {low}..{high} (got {value!r})")
    return value


def _binding(entry: dict[str, Any], index: int, lines: _Lines, fail: Any) -> Binding:
    start = lines.bind(index)
    kinds = [k for k in ("note", "cc") if k in entry]
    if len(kinds) != 1:
        raise fail(start, "each [[bind]] needs exactly one of note = N or cc = N")
    kind = kinds[0]
    number = _integer(entry, kind, 0, 127, lines.bind(index, kind), fail)
    channel = None
    if "channel" in entry:
        channel = _integer(entry, "channel", 1, 16, lines.bind(index, "channel"), fail) - 1
    threshold = 64
    if "threshold" in entry:
        if kind != "cc":
            raise fail(lines.bind(index, "threshold"), "threshold applies to cc bindings only")
        threshold = _integer(entry, "threshold", 1, 127, lines.bind(index, "threshold"), fail)
    action = entry.get("action")
    if action not in ACTIONS:
        raise fail(
            lines.bind(index, "action"),
            f"action must be one of {', '.join(sorted(ACTIONS))} (got {action!r})",
        )
    required, optional = ACTIONS[action]
    params = {k: v for k, v in entry.items() if k not in TRIGGER_KEYS}
    for key in sorted(set(params) - required - optional):
        raise fail(lines.bind(index, key), f"{action} takes no parameter {key!r}")
    for key in sorted(required - set(params)):
        raise fail(start, f"{action} needs {key} = ...")
    for key, value in params.items():
        line = lines.bind(index, key)
        if key == "bitrate":
            _integer(params, key, MIN_BITRATE, MAX_LIVE_BITRATE, line, fail)
        elif not isinstance(value, str) or not value.strip():
            raise fail(line, f"{key} must be a non-empty string")
    target = params.get("target")
    if target is not None and target != "live" and not _HEX64.fullmatch(target):
        raise fail(lines.bind(index, "target"), 'target must be "live" or a message ID (64 hex digits)')
    return Binding(kind, number, channel, action, params, threshold, line=start)
