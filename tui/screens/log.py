"""Log: where this node lives, its mode, and its recent log lines."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Footer, Header, RichLog, Static

from djmesh.tui.screens.base import DjmeshScreen


class LogScreen(DjmeshScreen):
    def __init__(self) -> None:
        super().__init__()
        self._shown = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Log", classes="screen-title")
        yield Static(id="settings")
        log = RichLog(id="log", wrap=True, markup=False)
        log.border_title = "Log"
        yield log
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_log()
        self.set_interval(1.0, self.refresh_log)

    def refresh_log(self) -> None:
        status = self.backend.status()
        settings = Text()
        settings.append("Home      ", style="bold")
        settings.append(status.home or "-")
        settings.append(f"\nMode      {status.mode}")
        settings.append("\nConfig    config.toml in the home: edit it on the Settings screen (s)")
        self.query_one("#settings", Static).update(settings)
        buffer = self.djmesh.log_buffer
        log = self.query_one("#log", RichLog)
        fresh = buffer.total - self._shown
        if fresh > 0:
            for line in list(buffer.lines)[-min(fresh, len(buffer.lines)) :]:
                log.write(line)
            self._shown = buffer.total
