"""What the node's services use of a peer-to-peer host: ``P2PHost`` (libp2p) in production, the
in-memory ``SimP2PHost`` (djmesh.node.sim.p2p) when many nodes share one process and a virtual clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

from djmesh.node.p2p.host import PeerInfo
from djmesh.node.p2p.topics import OnMessage, Validator


class Host(Protocol):
    @property
    def peer_id(self) -> str: ...

    @property
    def listen_addrs(self) -> list[str]: ...

    @property
    def relay_addrs(self) -> list[str]: ...

    async def __aenter__(self) -> Host: ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def connect(self, multiaddr_text: str) -> str: ...

    def peers(self) -> list[PeerInfo]: ...

    def mesh_peers(self, topic: str) -> list[str]: ...

    def gossip_state(self, *, peers: bool = False) -> dict[str, Any]: ...

    async def subscribe(self, topic: str, validator: Validator, on_message: OnMessage) -> None: ...

    async def unsubscribe(self, topic: str) -> None: ...

    async def publish(self, topic: str, data: bytes) -> None: ...

    async def advertise(self, namespace: str) -> None: ...

    async def discover(self, namespace: str, limit: int = 20) -> list[str]: ...

    def set_request_handler(
        self,
        protocol_id: str,
        handler: Callable[[bytes, str], Awaitable[bytes]],
        *,
        max_request_bytes: int = 64 * 1024,
    ) -> None: ...

    async def request(
        self,
        peer_id: str,
        protocol_id: str,
        data: bytes,
        *,
        max_response_bytes: int = 4 * 1024 * 1024,
        timeout_s: float = 10.0,
    ) -> bytes: ...


#: builds a node's host from its identity seed, listen and bootstrap addresses
HostFactory = Callable[[bytes, list[str], list[str]], Host]
