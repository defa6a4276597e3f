"""Settings: the node's config.toml as a form (name, listen addresses, bootstrap peers, log level, mDNS)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Footer, Header, Input, Label, Select, Static, Switch

from djmesh.node.config import LOG_LEVELS, ConfigError, NodeConfig
from djmesh.node.home import NodeHome
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.settings_form import config_from_form, save_config


class SettingsScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("ctrl+s", "save", "Save settings"),
        Binding("escape", "blur", "Leave input", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.config = NodeConfig()
        self.path: Path | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Settings", classes="screen-title")
        with VerticalScroll(id="settings-form"):
            yield Static(id="settings-file")
            yield Label("Name (shown to peers until you set a profile)")
            yield Input(id="set-name", placeholder="DJ name")
            yield Label("Listen addresses (separate with spaces or commas)")
            yield Input(id="set-listen", placeholder="/ip4/0.0.0.0/tcp/4001")
            yield Label("Bootstrap peers (multiaddrs ending in /p2p/<peer ID>)")
            yield Input(id="set-bootstrap", placeholder="/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW...")
            with Horizontal(id="settings-row"):
                yield Label("Log level ")
                yield Select([(level, level) for level in LOG_LEVELS], id="set-log-level", allow_blank=False)
                yield Label("  mDNS on the LAN ")
                yield Switch(id="set-mdns")
            yield Button("Save (ctrl+s)", id="save-settings", variant="primary")
            yield Static(id="settings-error")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    def load(self) -> None:
        home = self.backend.status().home
        if not home:
            return
        self.path = NodeHome(Path(home)).config_file
        note = Text.assemble(
            ("File  ", "bold"), str(self.path), ("  changes apply when the node restarts", "dim")
        )
        self.query_one("#settings-file", Static).update(note)
        try:
            self.config = NodeConfig.load(self.path)
        except ConfigError as exc:
            self.show_error(f"{exc} (saving writes a fresh file)")
            self.config = NodeConfig()
        self.query_one("#set-name", Input).value = self.config.name
        self.query_one("#set-listen", Input).value = " ".join(self.config.listen)
        self.query_one("#set-bootstrap", Input).value = " ".join(self.config.bootstrap)
        self.query_one("#set-log-level", Select).value = self.config.log_level
        self.query_one("#set-mdns", Switch).value = self.config.mdns

    def show_error(self, message: str) -> None:
        self.query_one("#settings-error", Static).update(Text(message, style="bold red") if message else "")

    def action_save(self) -> None:
        if self.path is None:
            self.notify("The node's home is not known yet.", severity="warning")
            return
        try:
            config = config_from_form(
                self.config,
                name=self.query_one("#set-name", Input).value,
                listen=self.query_one("#set-listen", Input).value,
                bootstrap=self.query_one("#set-bootstrap", Input).value,
                log_level=str(self.query_one("#set-log-level", Select).value),
                mdns=self.query_one("#set-mdns", Switch).value,
            )
        except ConfigError as exc:
            self.show_error(str(exc))
            self.notify(f"Not saved: {exc}", title="Settings", severity="error")
            return
        try:
            save_config(self.path, config)
        except OSError as exc:
            self.notify(f"Not saved: {exc}", title="Settings", severity="error")
            return
        self.config = config
        self.show_error("")
        self.notify(f"Saved {self.path.name}: restart the node to apply", title="Settings")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save-settings":
            self.action_save()

    def action_blur(self) -> None:
        self.set_focus(None)
