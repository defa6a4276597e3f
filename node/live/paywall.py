"""The two places a pay-per-listen stream touches the live mesh, as interfaces.

`LiveService` knows nothing about wallets or chains: the DJ's `ListenSeller` plugs in a
`JoinGate` (who may join its priced stream) and the listener's `ListenPayer` plugs in as the
service's `StreamPayer` (pay before joining, keep paying while subscribed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from djmesh.node.live.transport import Link
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.listen import StreamPrice
from djmesh.protocol.relay import Join

if TYPE_CHECKING:
    from djmesh.node.live.subscription import Subscription


class JoinGate(Protocol):
    def admit(self, stream: bytes, link: Link, message: Join) -> str | None:
        """None admits the joiner; otherwise the one-line reason it is refused."""


class StreamPayer(Protocol):
    async def before_join(self, announce: SignedEnvelope, price: StreamPrice) -> None:
        """Make sure the DJ is paid for the first interval (raise `LiveError` to refuse to pay)."""

    def joined(self, subscription: Subscription) -> None:
        """The node now receives the stream: pay for what arrives until it stops."""
