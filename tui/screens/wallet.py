"""Wallet: the node's EVM address, balance and listen channels, and its Solana address.

Everything is read without the wallet's passphrase (addresses come from the key files' public
parts), in a worker: the chain may be slow or down, and the screen must not wait on it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.commands import live_start_params, tip_params
from djmesh.tui.model import WalletChannel, WalletView
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.screens.forms import live_dialog, tip_dialog

WEI_PER_ETH = 10**18


def eth(wei: int) -> str:
    """Wei as ETH, without trailing zeros (exact: integer arithmetic, no float)."""
    whole, rest = divmod(wei, WEI_PER_ETH)
    return f"{whole}.{rest:018d}".rstrip("0").rstrip(".") + " ETH"


def wallet_text(wallet: WalletView) -> Text:
    text = Text()
    text.append("EVM address  ", style="dim")
    text.append(wallet.address, style="bold")
    text.append(f"  (chain {wallet.chain_id})", style="dim")
    for label, wei in (
        ("Balance      ", wallet.balance_wei),
        ("In channels  ", wallet.in_channels_wei),
        ("Withdrawable ", wallet.withdrawable_wei),
    ):
        text.append(f"\n{label}", style="dim")
        text.append(eth(wei))
    text.append("\nSolana       ", style="dim")
    text.append(wallet.solana_address or "(no Solana wallet)")
    return text


def channel_cells(row: WalletChannel) -> tuple[str, ...]:
    pays = "you pay" if row.role == "listener" else "pays you"
    left = "" if row.state == "closed" else eth(row.deposit_wei - row.paid_wei)
    expires = datetime.fromtimestamp(row.expires_at, UTC).strftime("%Y-%m-%d %H:%M")
    return (
        f"#{row.channel}",
        pays,
        row.counterparty,
        eth(row.paid_wei),
        eth(row.deposit_wei),
        left,
        row.state,
        expires,
    )


class WalletScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("r", "refresh", "Refresh"),
        Binding("dollar_sign", "tip", "Tip", key_display="$"),
        Binding("o", "go_live", "Go live (priced)"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Wallet", classes="screen-title")
        yield Static(Text("Reading the wallet...", style="dim"), id="wallet-summary")
        table: DataTable[str] = DataTable(id="wallet-channels", cursor_type="row")
        table.add_columns(
            "Channel", "Role", "Counterparty", "Paid", "Deposit", "Left", "State", "Expires (UTC)"
        )
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def action_refresh(self) -> None:
        self.reload()

    def action_tip(self) -> None:
        def tip_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_command("tip", lambda: tip_params(values))

        self.app.push_screen(tip_dialog(), tip_with)

    def action_go_live(self) -> None:
        def start_with(values: dict[str, str] | None) -> None:
            if values:
                self.send_command("live_start", lambda: live_start_params(values))

        self.app.push_screen(live_dialog(), start_with)

    def on_command_done(self, method: str, answer: Any) -> None:
        self.reload()  # a tip or a priced stream shows in the balance and the channels

    @work(exclusive=True, group="wallet")
    async def reload(self) -> None:
        summary = self.query_one("#wallet-summary", Static)
        table = self.query_one("#wallet-channels", DataTable)
        try:
            wallet = await self.backend.wallet()
        except BackendError as exc:
            summary.update(Text(f"Wallet not available: {exc}", style="yellow"))
            table.clear()
            self.notify(f"Wallet not available: {exc}", title="Wallet", severity="warning")
            return
        summary.update(wallet_text(wallet))
        table.clear()
        for row in wallet.channels:
            table.add_row(*channel_cells(row), key=f"{row.role}-{row.channel}")
        if not wallet.channels:
            table.add_row("", "", "No listen channels yet (`djmesh wallet deposit` opens one).")
