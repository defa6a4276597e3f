"""Wallet: the node's EVM address, balance and listen channels, and its Solana address.

Everything is read without the wallet's passphrase (addresses come from the key files' public
parts), in a worker: the chain may be slow or down, and the screen must not wait on it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.model import WalletChannel, WalletView
from djmesh.tui.screens.base import DjmeshScreen

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
    BINDINGS = [Binding("r", "refresh", "Refresh")]  # noqa: RUF012

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
