"""The listener's side of pay-per-listen: a channel per DJ, a voucher every interval for what arrived.

``ListenPayer(node, live, chain, sender, contract)`` plugs into the `LiveService` as its payer:
subscribing to a priced stream first opens a ListenChannel to the DJ (or reuses this payer's open
one while it has deposit and time left) and pays one interval ahead; then, every ``interval_s``
the stream asks for, it signs a cumulative voucher for the seconds of audio actually received
plus one interval, never more, and sends it on the link the DJ serves it on (``pay``: one round
trip), or to the DJ's inbox topic by gossip while it has no link (before joining, re-joining). It
stops when the stream stops. After a channel's timeout, `reclaim` takes back what the DJ did not cash.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.channels import ListenChannels
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.evm.vouchers import VoucherIssuer
from djmesh.node.clock import now_ms, sleep
from djmesh.node.errors import NodeError
from djmesh.node.live.errors import LiveError
from djmesh.node.live.listen_binding import sign_binding
from djmesh.node.live.service import LiveService
from djmesh.node.live.subscription import Subscription
from djmesh.node.node import Node
from djmesh.protocol.envelope import SignedEnvelope, sign
from djmesh.protocol.listen import ListenVoucher, StreamPrice

log = logging.getLogger(__name__)

DEFAULT_DEPOSIT_S = 600  # a new channel holds this much listening, unless deposit_wei says otherwise
DEFAULT_TIMEOUT_S = 3600
MIN_TIME_LEFT_S = 600  # reuse a channel only if it stays open this long (the DJ needs time to close it)


@dataclass
class _Channel:
    issuer: VoucherIssuer
    payee: str
    binding: bytes
    expires_at: int
    owed: list[_Payment] = field(default_factory=list)  # every stream this channel paid for
    latest: bytes | None = None  # the newest voucher envelope signed on it (cumulative: it stands for all)

    @property
    def target(self) -> int:
        return sum(payment.owed for payment in self.owed)


@dataclass
class _Payment:
    """What one stream costs so far (the channel's cumulative voucher adds up all of them)."""

    stream: bytes
    dj: bytes
    price: StreamPrice
    owed: int = 0
    heard_s: float = 0.0
    task: asyncio.Task[None] | None = None
    subscription: Subscription | None = None  # once joined: vouchers go on its link to the DJ


class ListenPayer:
    def __init__(
        self,
        node: Node,
        live: LiveService,
        chain: EvmChain,
        sender: TxSender,
        contract: str,
        *,
        deposit_wei: int | None = None,
        deposit_s: int = DEFAULT_DEPOSIT_S,
        channel_timeout_s: int = DEFAULT_TIMEOUT_S,
        max_wei_per_s: int | None = None,
    ) -> None:
        self.node = node
        self.live = live
        self.chain = chain
        self.channels = ListenChannels(chain, contract, sender)
        self.address: str = to_checksum_address(sender.address)
        self.deposit_wei = deposit_wei
        self.deposit_s = deposit_s
        self.channel_timeout_s = channel_timeout_s
        self.max_wei_per_s = max_wei_per_s
        self.vouchers_sent = 0
        self._key = bytes(sender.account.key)
        self._by_payee: dict[str, _Channel] = {}
        self._opened: list[int] = []
        self._payments: dict[bytes, _Payment] = {}
        self._lock = asyncio.Lock()

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ListenPayer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        if self.live.payer is not None and self.live.payer is not self:
            raise LiveError("this node already has a payer")
        self.live.payer = self

    async def close(self) -> None:
        if self.live.payer is self:
            self.live.payer = None
        for payment in self._payments.values():
            await self._cancel(payment)

    # -- StreamPayer (called by the LiveService) ------------------------------------------------

    async def before_join(self, announce: SignedEnvelope, price: StreamPrice) -> bytes | None:
        if (
            price.chain_id != self.chain.chain_id
            or to_checksum_address(price.contract) != self.channels.address
        ):
            raise LiveError(
                f"stream {announce.content_id.hex()} is sold on chain {price.chain_id} at {price.contract}; "
                f"this node pays on chain {self.chain.chain_id} at {self.channels.address}"
            )
        if self.max_wei_per_s is not None and price.wei_per_s > self.max_wei_per_s:
            raise LiveError(
                f"stream costs {price.wei_per_s} wei/s, more than the {self.max_wei_per_s} allowed"
            )
        stream = announce.content_id
        async with self._lock:
            payment = self._payments.get(stream)
            if payment is None or (payment.task is not None and payment.task.done()):
                payment = self._payments[stream] = _Payment(stream, announce.author, price)
            channel = await self._channel_for(payment)
            if payment not in channel.owed:
                channel.owed.append(payment)
        await self._pay(payment, heard_s=0.0)  # one interval ahead: the DJ admits us paid
        return self._channel_of(payment).latest

    def joined(self, subscription: Subscription) -> None:
        payment = self._payments.get(subscription.stream)
        if payment is not None and payment.task is None:
            payment.subscription = subscription
            payment.task = asyncio.ensure_future(self._keep_paying(payment, subscription))

    # -- paying --------------------------------------------------------------------------------

    async def _keep_paying(self, payment: _Payment, subscription: Subscription) -> None:
        frame_s = subscription.info.frame_ms / 1000
        while subscription.live and subscription.error is None:
            await sleep(payment.price.interval_s)
            if not subscription.live or subscription.error is not None:
                break
            try:
                # frames lost on the way and fetched again were heard too (the DJ counts each frame it sent)
                heard = subscription.received_frames + subscription.recovered
                await self._pay(payment, heard_s=heard * frame_s)
            except (LiveError, LedgerError, NodeError) as exc:
                log.warning("listen: paying for %s failed: %s", payment.stream.hex()[:8], exc)
        log.info(
            "listen: stopped paying for %s after %.1f s heard", payment.stream.hex()[:8], payment.heard_s
        )

    async def _pay(self, payment: _Payment, *, heard_s: float) -> None:
        """A voucher covering ``heard_s`` plus one interval (what the DJ needs to keep streaming)."""
        async with self._lock:
            channel = self._channel_of(payment)
            payment.heard_s = max(payment.heard_s, heard_s)
            payment.owed = max(payment.owed, payment.price.cost(payment.heard_s + payment.price.interval_s))
            total = channel.target
            if total <= channel.issuer.total:
                return
            if total > channel.issuer.deposit:
                await self._top_up(channel, total, payment.price)
            voucher = channel.issuer.pay(total)
            message = ListenVoucher(
                stream=payment.stream,
                dj=payment.dj,
                chain_id=self.chain.chain_id,
                contract=self.channels.address,
                channel=voucher.channel_id,
                amount=voucher.amount,
                signature=voucher.signature.to_bytes(),
                binding=channel.binding,
            )
        envelope = sign(message, self.node.identity.signing_key, created_at_ms=now_ms())
        channel.latest = envelope.wire
        subscription = payment.subscription
        if subscription is None or not subscription.pay(envelope.wire):
            await self.node.publish_signed(envelope)  # not attached to the DJ now: its inbox, by gossip
        self.vouchers_sent += 1

    def _channel_of(self, payment: _Payment) -> _Channel:
        for channel in self._by_payee.values():
            if payment in channel.owed:
                return channel
        raise LiveError(f"no channel pays for stream {payment.stream.hex()}")

    async def _channel_for(self, payment: _Payment) -> _Channel:
        """This payer's open channel to the stream's DJ if it still has deposit and time, else a new one."""
        payee = to_checksum_address(payment.price.payee)
        known = self._by_payee.get(payee)
        if known is not None:
            try:
                terms = await asyncio.to_thread(self.channels.channel, known.issuer.channel_id)
                now_s = await asyncio.to_thread(self.chain.timestamp)
            except Exception as exc:
                raise LiveError(f"cannot read the listen channel: {exc}") from exc
            room = known.issuer.deposit - known.issuer.total
            if (
                terms is not None
                and room >= payment.price.cost(2 * payment.price.interval_s)
                and terms.expires_at - now_s >= MIN_TIME_LEFT_S
            ):
                return known
            del self._by_payee[payee]  # closed by the DJ, spent or about to expire: start afresh
        deposit = self.deposit_wei or payment.price.cost(self.deposit_s)
        try:
            channel_id = await asyncio.to_thread(self.channels.open, payee, deposit, self.channel_timeout_s)
            terms = await asyncio.to_thread(self.channels.channel, channel_id)
        except Exception as exc:
            raise LiveError(f"cannot open a listen channel to {payee}: {exc}") from exc
        if terms is None:
            raise LiveError(f"listen channel {channel_id} vanished right after it was opened")
        self._opened.append(channel_id)
        domain = self.channels.domain
        channel = _Channel(
            issuer=VoucherIssuer(self._key, domain, channel_id, deposit),
            payee=payee,
            binding=sign_binding(self._key, domain, channel_id, self.node.public_key),
            expires_at=terms.expires_at,
        )
        self._by_payee[payee] = channel
        log.info("listen: opened channel %d to %s with %d wei", channel_id, payee, deposit)
        return channel

    async def _top_up(self, channel: _Channel, needed: int, price: StreamPrice) -> None:
        amount = max(needed - channel.issuer.deposit, self.deposit_wei or price.cost(self.deposit_s))
        try:
            await asyncio.to_thread(self.channels.top_up, channel.issuer.channel_id, amount, 0)
        except Exception as exc:
            raise LiveError(f"cannot top up listen channel {channel.issuer.channel_id}: {exc}") from exc
        channel.issuer.top_up(channel.issuer.deposit + amount)
        log.info("listen: topped up channel %d by %d wei", channel.issuer.channel_id, amount)

    # -- stopping and reclaiming ---------------------------------------------------------------

    async def stop(self, stream_id: str) -> None:
        """Stop paying for a stream (the DJ will cut us off after its grace period)."""
        payment = self._payments.get(bytes.fromhex(stream_id))
        if payment is not None:
            await self._cancel(payment)

    async def _cancel(self, payment: _Payment) -> None:
        task, payment.task = payment.task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def reclaim(self) -> list[dict[str, Any]]:
        """Expire this payer's channels whose timeout has passed; returns what came back, per channel."""
        rows: list[dict[str, Any]] = []
        now_s = await asyncio.to_thread(self.chain.timestamp)
        for channel_id in list(self._opened):
            terms = await asyncio.to_thread(self.channels.channel, channel_id)
            if terms is None:
                self._opened.remove(channel_id)  # the DJ closed it: the rest came back then
                continue
            if now_s < terms.expires_at:
                continue
            try:
                receipt = await asyncio.to_thread(self.channels.expire, channel_id)
            except LedgerError as exc:
                log.warning("listen: reclaiming channel %d failed: %s", channel_id, exc)
                continue
            event = self.channels.contract.events.ChannelClosed().process_receipt(receipt)
            self._opened.remove(channel_id)
            self._by_payee = {k: c for k, c in self._by_payee.items() if c.issuer.channel_id != channel_id}
            rows.append(
                {
                    "channel": channel_id,
                    "dj": to_checksum_address(terms.payee),
                    "paid_wei": str(int(event[0]["args"]["paid"])),
                    "refunded_wei": str(int(event[0]["args"]["refunded"])),
                    "tx": "0x" + bytes(receipt["transactionHash"]).hex(),
                }
            )
        return rows

    def status(self) -> list[dict[str, Any]]:
        """Per stream: seconds heard and wei promised so far."""
        return [
            {
                "stream": payment.stream.hex(),
                "heard_s": round(payment.heard_s, 2),
                "owed_wei": str(payment.owed),
                "paying": payment.task is not None and not payment.task.done(),
            }
            for payment in self._payments.values()
        ]
