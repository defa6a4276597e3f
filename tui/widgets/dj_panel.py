"""One DJ's side of the battle screen: level, BPM, key (with Camelot code), beat, track, scores."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical

from djmesh.tui.backend import short
from djmesh.tui.model import DjLive
from djmesh.tui.widgets.live_text import LiveText
from djmesh.tui.widgets.meter import LevelMeter

SCORE_LABELS = {
    "beatmatch": "Beatmatch",
    "tempo": "Tempo",
    "transitions": "Transition",
    "phrasing": "Phrasing",
    "gain": "Gain",
    "harmonic": "Harmonic",
    "energy": "Energy",
    "variety": "Variety",
    "rules": "Rules",
    "total": "Total",
}


def figures_text(dj: DjLive, bpm_range: tuple[int, int]) -> Text:
    """BPM (red when outside the battle's range) with the beat lamp, key with Camelot code, track n of N."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("BPM ", style="bold")
    if dj.bpm:
        ok = bpm_range[0] <= dj.bpm <= bpm_range[1]
        text.append(f"{dj.bpm:5.1f}", style="bold green" if ok else "bold red")
    else:
        text.append("  ---", style="dim")
    text.append("  ")
    text.append("● BEAT" if dj.beat else "○ beat", style="bold magenta" if dj.beat else "grey37")
    text.append("\nKey ", style="bold")
    if dj.key:
        text.append(f"{dj.key} ", style="bold cyan")
        text.append(f"({dj.camelot})", style="cyan")
    else:
        text.append("---", style="dim")
    text.append("\nTrack ", style="bold")
    if dj.track:
        text.append(f"{dj.track} of {dj.tracks}", style="bold")
        if dj.track_title:
            text.append(f"  {dj.track_title}", style="italic")
    else:
        text.append(f"- of {dj.tracks}", style="dim")
    return text


def scores_text(dj: DjLive) -> Text:
    """The criteria scores (0-10), two to a line; dashes until verdicts are revealed."""
    text = Text("Scores (0-10)", style="bold underline", no_wrap=True, overflow="ellipsis")
    for i, key in enumerate(SCORE_LABELS):
        value = dj.scores.get(key)
        text.append("\n" if i % 2 == 0 else "  ", style="none")
        cell = (
            f"{SCORE_LABELS[key]:<10} {value:5.2f}" if value is not None else f"{SCORE_LABELS[key]:<10}   ---"
        )
        text.append(cell, style="bold" if key == "total" else "none")
    return text


class DjPanel(Vertical):
    """Fed a fresh ``DjLive`` several times a second by the battle screen."""

    def __init__(self, side: str, *, id: str | None = None) -> None:
        super().__init__(id=id, classes="dj-panel")
        self.side = side
        self.border_title = f"DJ {side.upper()}"

    def compose(self) -> ComposeResult:
        yield LiveText(classes="dj-name")
        yield LevelMeter()
        yield LiveText(classes="dj-figures")
        yield LiveText(classes="dj-scores")

    def show(self, dj: DjLive | None, bpm_range: tuple[int, int]) -> None:
        name, figures, scores = self.query(LiveText).results(LiveText)
        meter = self.query_one(LevelMeter)
        if dj is None:
            name.put(Text("waiting for a battle", style="dim"))
            return
        tail = short(dj.peer_id)
        line = Text.assemble((dj.name, "bold"), ("  " + tail if tail not in dj.name else "", "dim"), "  ")
        line.append("on air" if dj.streaming else "off air", style="bold red" if dj.streaming else "dim")
        line.no_wrap, line.overflow = True, "ellipsis"
        name.put(line)
        meter.level_db, meter.peak_db = dj.level_db, dj.peak_db
        figures.put(figures_text(dj, bpm_range))
        scores.put(scores_text(dj))
        self.set_class(dj.beat, "-beat")
