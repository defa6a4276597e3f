"""Mapping files: what triggers what, and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.midi.errors import MappingError
from djmesh.node.midi.mapping import load_mapping, parse_mapping
from tests.helpers.cli import CliRunner

GOOD = """\
[clock]
declare_tempo = false

[[bind]]
note = 36
channel = 10
action = "track_change"
title = "Second track"

[[bind]]
cc = 64
threshold = 100
action = "react"
emoji = "🔥"

[[bind]]
note = 40
action = "set_start"
source = "lavfi:sine=frequency=440"
bitrate = 96000
"""


def test_notes_and_ccs_trigger_their_bindings() -> None:
    mapping = parse_mapping(GOOD)
    assert mapping.declare_tempo is False
    [track] = mapping.on_note(9, 36, 100)
    assert track.action == "track_change" and track.params == {"title": "Second track"} and track.line == 4
    assert mapping.on_note(0, 36, 100) == []  # bound to channel 10 only
    assert mapping.on_note(9, 36, 0) == []  # velocity 0 is a note-off
    assert [b.action for b in mapping.on_note(3, 40, 1)] == ["set_start"]  # no channel: any
    assert mapping.on_cc(0, 64, 99) == []
    assert [b.action for b in mapping.on_cc(0, 64, 127)] == ["react"]
    assert mapping.on_cc(0, 64, 120) == []  # still above: fires once per press
    mapping.on_cc(0, 64, 0)
    assert [b.action for b in mapping.on_cc(0, 64, 100)] == ["react"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ('[[bind]]\nnote = 200\naction = "set_end"\n', 2, "note must be an integer 0..127"),
        ('[[bind]]\nnote = 1\n\n[[bind]]\nnote = 2\naction = "dance"\n', 1, "action must be one of"),
        ('[[bind]]\nnote = 1\naction = "set_end"\n\n[[bind]]\ncc = 2\naction = "dance"\n', 7, "got 'dance'"),
        ('[[bind]]\nnote = 1\naction = "react"\n', 1, "react needs emoji"),
        ('[[bind]]\nnote = 1\naction = "set_end"\ncolour = "red"\n', 4, "takes no parameter 'colour'"),
        ('[[bind]]\nnote = 1\ncc = 2\naction = "set_end"\n', 1, "exactly one of note"),
        ('[[bind]]\nnote = 1\nchannel = 17\naction = "set_end"\n', 3, "channel must be an integer 1..16"),
        ('[[bind]]\nnote = 1\nthreshold = 3\naction = "set_end"\n', 3, "threshold applies to cc"),
        ('[[bind]]\nnote = 1\naction = "react"\nemoji = "x"\ntarget = "abc"\n', 5, "target must be"),
        (
            '[[bind]]\nnote = 1\naction = "set_end"\n[[bind]]\nnote = 1\naction = "set_end"\n',
            4,
            "already bound at line 1",
        ),
        ('[clock]\ndeclare_tempo = "yes"\n', 2, "declare_tempo must be true or false"),
        ("[clock]\n\ntempo = 1\n", 3, "unknown clock setting 'tempo'"),
        ("speed = 3\n", 1, "unknown setting 'speed'"),
        ('[[bind]]\nnote = 1\naction = "set_start"\nsource = "x"\nbitrate = 5\n', 5, "bitrate must be"),
        ("[[bind]]\nnote = = 1\n", 2, "not valid TOML"),
    ],
)
def test_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(MappingError) as caught:
        parse_mapping(text, "pads.toml")
    message = str(caught.value)
    assert message.startswith(f"pads.toml:{line}: "), message
    assert words in message and "\n" not in message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the mapping"):
        load_mapping(tmp_path / "missing.toml")


def test_cli_check_validates_without_a_node(djmesh_midi: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "pads.toml"
    good.write_text(GOOD, encoding="utf-8")
    done = djmesh_midi("--home", str(tmp_path / "h"), "midi", "map", str(good), "--check")
    assert done.returncode == 0, done.stderr
    assert "3 binding(s) OK" in done.stdout and "line 4: ch10 note 36 -> track_change" in done.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[[bind]]\nnote = 36\naction = "explode"\n', encoding="utf-8")
    done = djmesh_midi("--home", str(tmp_path / "h"), "midi", "map", str(bad), "--check")
    assert done.returncode == 1
    assert done.stderr.strip() == (
        f"djmesh: error: {bad}:3: action must be one of chat, post, react, set_end, set_start, "
        "track_change (got 'explode')"
    )
