"""A horizontal level meter with a falling peak mark, drawn with block characters."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

FLOOR_DB = -60.0


def meter_text(level_db: float, peak_db: float, width: int) -> Text:
    """The bar as text: green to -12 dBFS, yellow to -3, red above; ``|`` marks the peak."""
    width = max(4, width)

    def cells(db: float) -> int:
        return round(max(0.0, min(1.0, (db - FLOOR_DB) / -FLOOR_DB)) * width)

    lit, peak = cells(level_db), cells(peak_db)
    text = Text()
    for i in range(width):
        db = FLOOR_DB + (i + 1) * -FLOOR_DB / width
        colour = "green" if db <= -12 else "yellow" if db <= -3 else "red"
        if i < lit:
            text.append("█", style=colour)
        elif i == peak - 1 and peak > lit:
            text.append("|", style=f"bold {colour}")
        else:
            text.append("·", style="grey30")
    return text


class LevelMeter(Widget):
    """Redraws only when the level it shows changes (so a 12 Hz timer costs little)."""

    DEFAULT_CSS = """
    LevelMeter { height: 1; width: 1fr; }
    """

    level_db: reactive[float] = reactive(-90.0)
    peak_db: reactive[float] = reactive(-90.0)

    def render(self) -> Text:
        bar = meter_text(self.level_db, self.peak_db, self.size.width - 9)
        label = f"{self.level_db:6.1f}dB" if self.level_db > -90 else "   -- dB"
        return bar + Text(" " + label)
