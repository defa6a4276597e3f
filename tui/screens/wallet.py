"""Wallet: a placeholder until the ledger lands (balances, channels and payments go here)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Header, Static

from djmesh.tui.screens.base import DjmeshScreen


class WalletScreen(DjmeshScreen):
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Wallet", classes="screen-title")
        yield Static(
            "The ledger is not available yet in this version of djmesh.\n\n"
            "Balances, payment channels, tips and crowd votes will show here once it is.",
            id="wallet-note",
        )
        yield Footer()
