"""Circuit relay v2: bootstrap servers relay (hop), nodes reserve a slot so they stay reachable.

A node behind NAT cannot be dialled directly; with a reservation at a bootstrap relay other peers
can reach it at ``<relay addr>/p2p-circuit/p2p/<node>``. py-libp2p needs ``discover_relays()`` and
``make_reservation()`` called explicitly after connecting (shared/FIELD-NOTES.md).
"""

from __future__ import annotations

import logging
from typing import Any

import multiaddr  # type: ignore[import-untyped]
import trio
from libp2p.abc import IHost
from libp2p.peer.id import ID
from libp2p.relay.circuit_v2.config import RelayConfig
from libp2p.relay.circuit_v2.discovery import RelayDiscovery
from libp2p.relay.circuit_v2.protocol import CircuitV2Protocol
from libp2p.relay.circuit_v2.resources import RelayLimits
from libp2p.relay.circuit_v2.transport import CircuitV2Transport
from libp2p.tools.anyio_service import background_trio_service

log = logging.getLogger(__name__)

# A bootstrap relays signalling-sized traffic, not media: 2 minutes and 1 MiB per circuit.
RELAY_LIMITS = RelayLimits(duration=120, data=1024 * 1024, max_circuit_conns=64, max_reservations=256)
RESERVE_TIMEOUT_S = 10.0


class RelayService:
    """Runs the circuit v2 protocol (hop when ``serve``) and, for clients, keeps reservations."""

    def __init__(self, host: IHost, *, serve: bool) -> None:
        self._host = host
        self._serve = serve
        self.protocol = CircuitV2Protocol(host, limits=RELAY_LIMITS if serve else None, allow_hop=serve)
        self.discovery = RelayDiscovery(host, auto_reserve=False, discovery_interval=300)
        self.reservations: set[ID] = set()
        self._transport: CircuitV2Transport | None = None

    async def run(self, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        async with background_trio_service(self.protocol):
            await self.protocol.event_started.wait()
            task_status.started()
            await trio.sleep_forever()

    async def reserve_at_relays(self) -> int:
        """Find relays among connected peers and reserve a slot at each; returns how many we hold."""
        if self._serve:
            return 0
        with trio.move_on_after(RESERVE_TIMEOUT_S):
            await self.discovery.discover_relays()
        for relay in self.discovery.get_relays():
            if relay in self.reservations:
                continue
            with trio.move_on_after(RESERVE_TIMEOUT_S):
                try:
                    if await self.discovery.make_reservation(relay):
                        self.reservations.add(relay)
                except Exception:
                    log.debug("reservation at %s failed", relay, exc_info=True)
        return len(self.reservations)

    async def dial(self, maddr: multiaddr.Multiaddr) -> ID:
        """Connect through a relay: ``<relay addr>/p2p/<relay>/p2p-circuit/p2p/<target>``.

        The relayed stream is upgraded like any connection (Noise + Yamux), so the relay sees only
        ciphertext. We must already be connected to the relay (the bootstrap usually).
        """
        if self._transport is None:
            self._transport = CircuitV2Transport(self._host, self.protocol, RelayConfig())
        conn = await self._transport.dial(maddr)
        peer: ID = conn.muxed_conn.peer_id
        return peer

    def circuit_addrs(self, relay_addrs: dict[ID, list[multiaddr.Multiaddr]]) -> list[str]:
        """Addresses at which others can reach us through the relays we hold a reservation at."""
        me = self._host.get_id().to_base58()
        out = []
        for relay in sorted(self.reservations, key=str):
            for addr in relay_addrs.get(relay, []):
                base = str(addr)
                if "/p2p/" not in base:
                    base += f"/p2p/{relay.to_base58()}"
                out.append(f"{base}/p2p-circuit/p2p/{me}")
        return out
