"""Peers and network: who we are connected to, latency and score, traffic, bootstrap/DHT/relay status."""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Footer, Header, Static

from djmesh.tui.backend import BackendError
from djmesh.tui.commands import tip_params
from djmesh.tui.model import NodeStatus
from djmesh.tui.screens.base import DjmeshScreen
from djmesh.tui.screens.forms import tip_dialog


def size(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.1f} GB"


def rate(per_s: float) -> str:
    return size(per_s) + "/s"


def status_text(status: NodeStatus) -> Text:
    text = Text()
    text.append("Node      ", style="bold")
    text.append(status.peer_id or "starting...")
    text.append(f"\nMode      {status.mode}")
    text.append(f"\nPeers     {status.peers} connected   Messages {status.messages} stored")
    text.append("\nListen    " + (", ".join(status.listen_addrs) or "-"))
    text.append("\nBootstrap " + (", ".join(status.bootstrap) or "none configured (mDNS on the LAN only)"))
    text.append("\nTraffic   ", style="bold")
    if status.bytes_out_per_s is None or status.bytes_in_per_s is None:
        text.append("measuring...", style="dim")
    else:
        text.append(f"out {rate(status.bytes_out_per_s)}  in {rate(status.bytes_in_per_s)}")
        text.append(
            f"   ({size(status.bytes_sent)} sent, {size(status.bytes_received)} received"
            " on open libp2p connections; live audio over QUIC not counted)",
            style="dim",
        )
    found = status.discovery
    if found:
        text.append("\nDiscovery ", style="bold")
        text.append(
            f"bootstrap {found.get('bootstrap_connected', 0)}/{found.get('bootstrap_configured', 0)} connected"
            f" · DHT routing table {found.get('dht_routing_table', 0)} peers"
            f" · relay reservations {found.get('relay_reservations', 0)}"
            f" · rendezvous {'served here' if found.get('serving') else 'at the bootstrap peers'}"
        )
    if status.dropped:
        dropped = ", ".join(f"{kind} {n}" for kind, n in sorted(status.dropped.items()))
        text.append(f"\nDropped   {dropped}", style="yellow")
    return text


class PeersScreen(DjmeshScreen):
    BINDINGS = [  # noqa: RUF012
        Binding("o", "follow", "Follow peer"),
        Binding("dollar_sign", "tip", "Tip peer", key_display="$"),
    ]

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Peers and network", classes="screen-title")
        yield Static(id="node-status")
        table: DataTable[str] = DataTable(id="peers-table", cursor_type="row")
        table.add_columns("Name", "Peer", "Latency", "Score", "Address")
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.reload()
        self.set_interval(2.0, self.reload)

    @work(exclusive=True, group="peers")
    async def reload(self) -> None:
        self.query_one("#node-status", Static).update(status_text(self.backend.status()))
        try:
            peers = await self.backend.peers()
        except BackendError:
            return
        table = self.query_one("#peers-table", DataTable)
        cursor = table.cursor_row
        table.clear()
        for peer in sorted(peers, key=lambda p: p.peer_id):
            latency = f"{peer.latency_ms:.1f} ms" if peer.latency_ms is not None else "-"
            score = f"{peer.score:.1f}" if peer.score is not None else "-"
            table.add_row(
                Text(peer.name or "-"),  # the peer's own words: never parsed as markup
                peer.peer_id,
                latency,
                score,
                peer.addrs[0] if peer.addrs else "-",
                key=peer.peer_id,
            )
        if peers:
            table.move_cursor(row=min(cursor, len(peers) - 1))

    def selected_peer(self, what: str) -> str | None:
        table = self.query_one("#peers-table", DataTable)
        if table.row_count == 0:
            self.notify(f"No peers to {what} yet.", severity="warning")
            return None
        return str(table.get_row_at(table.cursor_row)[1])

    def action_tip(self) -> None:
        peer_id = self.selected_peer("tip")
        if peer_id is not None:
            self.app.push_screen(tip_dialog(peer_id), self.send_tip)

    def send_tip(self, values: dict[str, str] | None) -> None:
        if values:
            self.send_command("tip", lambda: tip_params(values))

    @work(group="follow")
    async def action_follow(self) -> None:
        peer_id = self.selected_peer("follow")
        if peer_id is None:
            return
        try:
            await self.backend.follow(peer_id)
        except BackendError as exc:
            self.notify(f"Not followed: {exc}", severity="error")
            return
        self.notify(f"Following {peer_id[-8:]}")
