"""What every djmesh screen shares: the header, the footer and a typed handle on the backend."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from textual.screen import Screen

from djmesh.tui.backend import Backend

if TYPE_CHECKING:
    from djmesh.tui.app import DjmeshApp


class DjmeshScreen(Screen[None]):
    @property
    def djmesh(self) -> DjmeshApp:
        return cast("DjmeshApp", self.app)

    @property
    def backend(self) -> Backend:
        return self.djmesh.backend

    def on_data_changed(self, what: str) -> None:
        """The backend says ``what`` changed (feed, chat, crews...); screens reload what they show."""
