"""Text a screen refreshes many times a second (the Battle screen at 12 Hz): cheap when nothing changed.

``Static.update`` repaints and lays the whole screen out again on every call, even with the same
text. ``LiveText.put`` does nothing for the same text, and asks for a new layout only when the
number of lines changes (the only way these widgets change size), so a steady screen costs little
and a key press is drawn at once.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static


class LiveText(Static):
    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._shown: Text | None = None

    def put(self, text: Text) -> None:
        shown = self._shown
        if shown is not None and text == shown:
            return
        lines = text.plain.count("\n")
        self._shown = text
        self.update(text, layout=shown is None or lines != shown.plain.count("\n"))
