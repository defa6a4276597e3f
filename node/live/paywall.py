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

    def take_voucher(self, stream: bytes, link: Link, wire: bytes) -> None:
        """A ``pay`` on a link (a child's, or a joiner's ahead of its join): a signed voucher envelope to check."""


class StreamPayer(Protocol):
    async def before_join(self, announce: SignedEnvelope, price: StreamPrice) -> bytes | None:
        """Pay the DJ for the first interval (raise `LiveError` to refuse to pay); returns the voucher envelope
        to send ahead of the join (a DJ admits nobody who has not paid)."""

    def joined(self, subscription: Subscription) -> None:
        """The node now receives the stream: pay for what arrives until it stops (over its parent link)."""
