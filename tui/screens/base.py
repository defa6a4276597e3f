"""What every djmesh screen shares: the header, the footer, a typed handle on the backend, and how a
screen runs one of the node's commands (in a worker, one line back) and the crowd's vote."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from textual import work
from textual.screen import Screen

from djmesh.tui.backend import Backend, BackendError
from djmesh.tui.commands import done_text, failed_text
from djmesh.tui.model import BattleView, VoteOutcome
from djmesh.tui.widgets.vote import VoteDialog

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

    # -- the node's commands -------------------------------------------------------------------------

    def send_command(self, method: str, params_of: Callable[[], dict[str, Any]]) -> None:
        """Run ``method`` with the parameters ``params_of`` builds from what was typed; a typing mistake
        is said at once, and nothing is sent."""
        try:
            params = params_of()
        except BackendError as exc:
            self.notify(failed_text(method, exc), title="Command", severity="error", markup=False)
            return
        self.run_command(method, params)

    @work(group="command")
    async def run_command(self, method: str, params: dict[str, Any]) -> None:
        """The command on the node (it may wait on the chain: a worker); its one line, done or refused."""
        try:
            answer = await self.backend.command(method, **params)
        except BackendError as exc:
            self.notify(failed_text(method, exc), title="Command", severity="error", timeout=15, markup=False)
            return
        self.notify(done_text(method, answer), title="Command", markup=False)
        self.on_command_done(method, answer)

    def on_command_done(self, method: str, answer: Any) -> None:
        """A command succeeded: screens reload what it changed."""

    # -- the crowd's vote ----------------------------------------------------------------------------

    def ask_vote(self, battle: BattleView) -> None:
        """DJ A or DJ B (``VoteDialog``), then the vote (``Backend.vote``: anonymous on the ledger when it can)."""
        names = {side: dj.name for side, dj in battle.sides.items()}

        def vote_for(side: str | None) -> None:
            if side:
                self.send_vote(battle.battle_id, side)

        self.app.push_screen(VoteDialog(names), vote_for)

    @work(group="send")
    async def send_vote(self, battle_id: str, side: str) -> None:
        try:
            outcome = await self.backend.vote(battle_id, side)
        except BackendError as exc:
            self.notify(f"Vote not sent: {exc}", title="Vote", severity="error", markup=False)
            return
        if outcome.binding:
            self.notify(
                f"You voted for DJ {side.upper()} on the ledger, anonymously.\n"
                f"tx {outcome.tx}\nnullifier {outcome.nullifier}",
                title="Vote",
            )
        else:
            self.notify(
                f"You voted for DJ {side.upper()} as a signed reaction: not binding ({outcome.why_not_binding}).",
                title="Vote",
                severity="warning",
                markup=False,
            )
        self.on_voted(outcome)

    def on_voted(self, outcome: VoteOutcome) -> None:
        """A vote went out (the Battle screen shows the reaction's echo in its chat)."""
