"""One subscribed topic: the validator that runs inside GossipSub and the asyncio-side delivery.

The validator is called synchronously by py-libp2p (trio side, same thread) before a message is
marked seen or forwarded. Its verdict (libp2p's three): ``ACCEPT`` forwards and delivers; ``REJECT``
(or False, or an exception) drops it and counts against the forwarder's score; ``IGNORE`` drops it
without a penalty (this node's policy: a rate limit, a block, its clock), see ``gossip.PolicyScorer``.
Accepted messages cross to asyncio through ``call_soon_threadsafe`` into a bounded queue drained
by one task per topic, so ``on_message`` sees messages in order and a slow consumer cannot stall trio.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import logging
from collections.abc import Awaitable, Callable

from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

log = logging.getLogger(__name__)


class Verdict(enum.Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    REJECT = "reject"


Validator = Callable[[bytes, str], "Verdict | bool"]
OnMessage = Callable[[bytes, str], Awaitable[None] | None]
DELIVERY_QUEUE_SIZE = 4096


def origin_of(msg: rpc_pb2.Message) -> str:
    """The libp2p peer id that published (and, with strict signing, signed) ``msg``."""
    return str(ID(msg.from_id).to_base58())


class TopicState:
    """Validator + delivery queue of one subscription."""

    def __init__(
        self,
        topic: str,
        validator: Validator,
        on_message: OnMessage,
        *,
        on_ignore: Callable[[ID], None] | None = None,
    ) -> None:
        """``on_ignore(forwarder)``: told before an IGNORE becomes a False for py-libp2p."""
        self.topic = topic
        self.on_ignore = on_ignore
        self.validator = validator
        self.on_message = on_message
        self.queue: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue(DELIVERY_QUEUE_SIZE)
        self.dropped = 0
        self.rejected = 0
        self.consumer = asyncio.get_running_loop().create_task(
            self._consume(), name=f"djmesh-p2p-deliver:{topic}"
        )

    def verdict(self, data: bytes, origin: str) -> Verdict:
        """The user's validator, made total: an exception counts as a rejection."""
        try:
            result = self.validator(data, origin)
        except Exception:
            log.warning("validator for %s raised; message dropped", self.topic, exc_info=True)
            result = Verdict.REJECT
        if isinstance(result, bool):
            result = Verdict.ACCEPT if result else Verdict.REJECT
        if result is not Verdict.ACCEPT:
            self.rejected += 1
        return result

    def accepts(self, data: bytes, origin: str) -> bool:
        return self.verdict(data, origin) is Verdict.ACCEPT

    def libp2p_validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        """py-libp2p's validator signature; never raises."""
        try:
            origin = origin_of(msg)
        except Exception:
            return False
        verdict = self.verdict(bytes(msg.data), origin)
        if verdict is Verdict.IGNORE and self.on_ignore is not None:
            self.on_ignore(forwarder)
        return verdict is Verdict.ACCEPT

    def deliver(self, data: bytes, origin: str) -> None:
        """Called on the asyncio loop for each accepted message."""
        try:
            self.queue.put_nowait((data, origin))
        except asyncio.QueueFull:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("on_message for %s is too slow: %d messages dropped", self.topic, self.dropped)

    async def _consume(self) -> None:
        while True:
            data, origin = await self.queue.get()
            try:
                result = self.on_message(data, origin)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("on_message for %s failed", self.topic)

    async def close(self) -> None:
        self.consumer.cancel()
        try:
            await self.consumer
        except asyncio.CancelledError:
            if (task := asyncio.current_task()) is not None and task.cancelling():
                raise
