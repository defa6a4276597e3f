"""The DJ's side of pay-per-listen: sell a stream, take vouchers, cut off whoever stops paying, cash in.

``ListenSeller(node, live, chain, sender, contract)`` goes live with a price
(`start_stream`), is the stream's `JoinGate` (a joiner must show a join ticket: who it is, and
have paid), reads each new channel's terms from the chain once, accepts vouchers (on the link it
serves a listener on, ahead of a join, or by gossip) through `VoucherBook` and keeps, per listener
and stream, how many seconds were paid against how many seconds of audio were sent. A child whose
payments fall more than ``grace_s`` behind is cut off and cannot rejoin until it pays. When the
stream stops (or on `settle`) each channel is closed on chain with its latest voucher and the
payment read back from the receipt.

Rule for relays: a priced stream is served by its DJ only. The DJ's hub never redirects joiners to
children, and listening nodes do not relay priced streams (`LiveService` subscribes with no room
for children), so every listener is a direct child the DJ can gate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_utils.address import to_checksum_address

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.channels import ListenChannels
from djmesh.ledger.evm.eip712 import Signature
from djmesh.ledger.evm.errors import LedgerError, VoucherRefusedError
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.evm.vouchers import ChannelTerms, Voucher, VoucherBook
from djmesh.node.clock import monotonic, now_ms, sleep
from djmesh.node.events import MessageStored
from djmesh.node.live.errors import LiveError
from djmesh.node.live.listen_binding import binding_holds
from djmesh.node.live.service import LiveService
from djmesh.node.live.transport import Link
from djmesh.node.node import Node
from djmesh.protocol.envelope import SignedEnvelope, decode_envelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.listen import ListenVoucher, StreamPrice, TicketError, TicketReplayGuard, verify_ticket
from djmesh.protocol.peer_id import peer_id_from_public_key
from djmesh.protocol.ratelimit import KeyedTokenBuckets, RateLimit
from djmesh.protocol.relay import MAX_VOUCHER_BYTES, Join
from djmesh.protocol.stream import StreamEnd

log = logging.getLogger(__name__)

# How far behind its payments a listener may fall (audio sent against paid) before it is cut off: what a voucher
# may take to arrive. On one link that is a round trip, but a loaded machine held vouchers up 1-6 s (demo, two busy
# cores). Nobody gets it for free: a listener is admitted only once a voucher from its channel is in.
DEFAULT_GRACE_S = 6.0
ENFORCE_EVERY_S = 0.25
CLOSE_CHECK_EVERY_S = 10.0
TERMS_REFRESH_S = 1.0  # after a top-up the listener's vouchers exceed the deposit we knew: read it again
# Before closing channels, the vouchers already received are taken (a closed channel cashes only what the
# book holds); a flood of queued vouchers must not hold the close up longer than this.
DRAIN_BEFORE_CLOSE_S = 5.0
# Vouchers a listener may send on its link: a few at once (a top-up, a rejoin), then one a second (the shortest
# interval a price allows). More are dropped before any signature is checked.
LINK_VOUCHERS = RateLimit(burst=4, per_second=1.0)
# A voucher is refused when its channel expires within ``close_margin_s`` (minutes): a clock a second old will do.
CHAIN_TIME_TTL_S = 1.0
# A listener pays for the frames it received, the DJ counts the frames it sent: what a lossy path loses (up to
# this share) is not held against the listener.
LOSS_ALLOWANCE = 0.05


@dataclass(frozen=True)
class ListenerPayment:
    """One channel cashed on chain: what the listener paid the DJ, as the receipt says."""

    listener: str  # the listener's peer ID
    listener_address: str
    dj: str  # the DJ's EVM address
    channel: int
    amount_wei: int  # what the DJ got from this channel in total
    refunded_wei: int  # what went back to the listener (0 after a claim, which keeps the channel open)
    tx: str
    closed: bool

    def to_json(self) -> dict[str, str]:
        return {"listener": self.listener, "dj": self.dj, "amount_wei": str(self.amount_wei), "tx": self.tx}

    def details(self) -> dict[str, Any]:
        return {
            **self.to_json(),
            "listener_address": self.listener_address,
            "channel": self.channel,
            "refunded_wei": str(self.refunded_wei),
            "closed": self.closed,
        }


@dataclass
class ListenerAccount:
    """One listener on one stream: seconds of audio sent to it against wei credited.

    Audio sent, not time connected: the listener pays for the frames it received, and a DJ whose machine falls
    behind real time sends fewer seconds than pass. Counted by wall clock, every listener of a loaded DJ fell
    behind by the DJ's own lag, was cut off, and was refused until it paid for audio it never got.
    """

    peer: bytes
    stream: bytes
    credited_wei: int = 0
    served_s: float = 0.0

    def paid_s(self, price: StreamPrice) -> float:
        return self.credited_wei / price.wei_per_s

    def overdue(self, price: StreamPrice, grace_s: float) -> bool:
        return self.served_s * (1 - LOSS_ALLOWANCE) > self.paid_s(price) + grace_s


def _amount(envelope: SignedEnvelope) -> int:
    message = envelope.message
    return message.amount if isinstance(message, ListenVoucher) else 0


@dataclass
class _Channel:
    terms: ChannelTerms
    peer: bytes | None = None  # the djmesh peer the channel's listener bound it to
    streams: set[bytes] = field(default_factory=set)
    refreshed_at: float = field(default_factory=monotonic)


@dataclass
class _Child:
    peer: bytes
    stream: bytes
    link: Link
    counted_frames: int = 0  # of the hub's frames sent on this link, those already added to the account


class ListenSeller:
    def __init__(
        self,
        node: Node,
        live: LiveService,
        chain: EvmChain,
        sender: TxSender,
        contract: str,
        *,
        grace_s: float = DEFAULT_GRACE_S,
        close_margin_s: int = 300,
    ) -> None:
        self.node = node
        self.live = live
        self.chain = chain
        self.channels = ListenChannels(chain, contract, sender)
        self.address: str = to_checksum_address(sender.address)
        self.book = VoucherBook(self.channels.domain, self.address, close_margin_s=close_margin_s)
        self.grace_s = grace_s
        self.accepted = 0
        self.refused: dict[str, int] = {}
        self.cut_off = 0
        self.errors: list[str] = []
        self._streams: dict[bytes, StreamPrice] = {}
        self._ended: set[bytes] = set()
        self._accounts: dict[tuple[bytes, bytes], ListenerAccount] = {}
        self._channels: dict[int, _Channel] = {}
        self._settled: set[int] = set()
        self._children: dict[int, _Child] = {}
        self._tickets = TicketReplayGuard()
        self._link_vouchers = KeyedTokenBuckets(LINK_VOUCHERS, tracked=4096)
        self._chain_clock: tuple[int, float] | None = None  # (chain timestamp, monotonic when read)
        self._payments: list[ListenerPayment] = []
        self._queue: asyncio.Queue[SignedEnvelope] = asyncio.Queue(1024)
        self._settle_lock = asyncio.Lock()
        self._settling: dict[bytes, asyncio.Future[list[ListenerPayment]]] = {}
        self._settling_started = asyncio.Event()  # set, then replaced, whenever a stream starts settling
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> ListenSeller:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._follow_events()),
            asyncio.ensure_future(self._take_vouchers()),
            asyncio.ensure_future(self._enforce()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    # -- selling -------------------------------------------------------------------------------

    async def start_stream(self, source: str, *, wei_per_s: int, interval_s: int = 2, **settings: Any) -> str:
        """Go live with a price (``settings`` as for `LiveService.start_stream`); returns the stream ID."""
        if wei_per_s <= 0:
            raise LiveError("a priced stream costs at least 1 wei per second")
        if not 1 <= interval_s <= 60:
            raise LiveError("the voucher interval must be 1..60 s")
        price = StreamPrice(self.chain.chain_id, self.channels.address, self.address, wei_per_s, interval_s)
        stream_id = await self.live.start_stream(source, price=price, gate=self, **settings)
        self._streams[bytes.fromhex(stream_id)] = price
        return stream_id

    async def stop_stream(self, stream_id: str | None = None) -> list[ListenerPayment]:
        """Stop our priced stream(s) and close their channels; returns the payments this settled."""
        stopped = await self.live.stop_stream(stream_id)
        rows: list[ListenerPayment] = []
        for stream in stopped:
            rows += await asyncio.shield(self._stream_ended(bytes.fromhex(stream)))
        return rows

    async def wait_settled(self, stream_id: str) -> list[ListenerPayment]:
        """The payments settled when ``stream_id`` ended (waits for the stream to end)."""
        stream = bytes.fromhex(stream_id)
        while stream not in self._settling:
            await self._settling_started.wait()
        return await asyncio.shield(self._settling[stream])

    def _price(self, stream: bytes) -> StreamPrice | None:
        return self._streams.get(stream) or self.live.price(stream)

    # -- the gate (runs inside the hub's join, synchronously) -----------------------------------

    def admit(self, stream: bytes, link: Link, message: Join) -> str | None:
        price = self._price(stream)
        if price is None or stream in self._ended:
            return "not a stream this DJ sells"
        try:
            ticket = verify_ticket(message.ticket, stream, now_ms=now_ms())
        except TicketError as exc:
            return f"{type(exc).__name__}: {exc}"
        if not self._tickets.first_use(ticket):
            return "join ticket already used"
        account = self._accounts.get((ticket.listener, stream))  # made by a credited voucher, not by a join
        if account is None or account.credited_wei == 0:
            # Not one second free to a new face: identities cost nothing, a channel on chain does. The joiner's
            # voucher travels ahead of its join on this link; its next try gets in once the voucher is checked.
            return "payment first: send a voucher"
        if account.overdue(price, self.grace_s):
            return "payment overdue: send a voucher first"
        self._children[id(link)] = _Child(ticket.listener, stream, link)
        return None

    def take_voucher(self, stream: bytes, link: Link, wire: bytes) -> None:
        """A voucher a listener sent on a link to us (``pay``): cheap checks here, the chain's in the queue.

        From a child we serve, or from a listener about to join (its voucher goes ahead of its join). At most a
        few a second per link, before any signature is checked; then one Ed25519 check; a child's must be
        signed by the listener the paywall admitted on that link. What the chain says is checked in the queue,
        as for vouchers that came by gossip (the channel's binding names the only peer it may pay for).
        """
        child = self._children.get(id(link))
        admitted = child if child is not None and child.link is link and child.stream == stream else None

        def who() -> str:  # named only when logged: a flood is refused without hashing a key per message
            return peer_id_from_public_key(admitted.peer) if admitted is not None else f"{link.remote}"

        if not self._link_vouchers.allow(id(link), int(monotonic() * 1000)):
            self._count_refusal(who, "vouchers sent too fast")
            return
        try:
            envelope = decode_envelope(wire, now_ms=now_ms(), max_bytes=MAX_VOUCHER_BYTES)
        except ProtocolError as exc:
            self._count_refusal(who, "bad voucher envelope", str(exc))
            return
        message = envelope.message
        if (
            not isinstance(message, ListenVoucher)
            or message.dj != self.node.public_key
            or message.stream != stream
            or (admitted is not None and envelope.author != admitted.peer)
        ):
            self._count_refusal(who, "not a voucher of this listener for this stream")
            return
        self._enqueue(envelope)

    def _account(self, peer: bytes, stream: bytes) -> ListenerAccount:
        account = self._accounts.get((peer, stream))
        if account is None:
            account = self._accounts[(peer, stream)] = ListenerAccount(peer, stream)
        return account

    async def _enforce(self) -> None:
        next_close_check = monotonic() + CLOSE_CHECK_EVERY_S
        while True:
            await sleep(ENFORCE_EVERY_S)
            self.enforce_now()
            if monotonic() >= next_close_check:
                next_close_check = monotonic() + CLOSE_CHECK_EVERY_S
                await self._close_due()

    def enforce_now(self) -> None:
        """Count the audio sent to each child; cut off those whose payments fell behind."""
        for stream, price in self._streams.items():
            hub, frame_s = self.live.hub_for(stream), self.live.frame_seconds(stream)
            if hub is None or frame_s is None:
                continue
            for key, child in list(hub.children.items()):
                known = self._children.get(key)
                if known is None or known.link is not child.link:
                    hub.cut(child.link, "not admitted by the paywall")
                    continue
                account = self._account(known.peer, stream)
                account.served_s += (child.sent_frames - known.counted_frames) * frame_s
                known.counted_frames = child.sent_frames
                if account.overdue(price, self.grace_s):
                    self.cut_off += 1
                    log.info(
                        "listen: cutting off %s on %s: served %.1f s, paid %.1f s",
                        peer_id_from_public_key(known.peer),
                        stream.hex()[:8],
                        account.served_s,
                        account.paid_s(price),
                    )
                    hub.cut(child.link, "payment overdue")
        for key, known in list(self._children.items()):
            hub = self.live.hub_for(known.stream)
            served = hub.children.get(key) if hub is not None else None
            if known.link.closed or served is None or served.link is not known.link:
                del self._children[key]

    # -- vouchers ------------------------------------------------------------------------------

    async def _follow_events(self) -> None:
        async for event in self.node.events():
            if not isinstance(event, MessageStored):
                continue
            envelope, message = event.envelope, event.envelope.message
            if isinstance(message, ListenVoucher) and message.dj == self.node.public_key:
                if envelope.author != self.node.public_key:
                    self._enqueue(envelope)
            elif (
                isinstance(message, StreamEnd)
                and envelope.author == self.node.public_key
                and message.stream in self._streams
            ):
                self._stream_ended(message.stream)

    def _enqueue(self, envelope: SignedEnvelope) -> None:
        if self._queue.full():
            self._refuse(envelope, "too many vouchers waiting")
        else:
            self._queue.put_nowait(envelope)

    async def _take_vouchers(self) -> None:
        while True:
            envelope = await self._queue.get()
            try:
                await self.take(envelope)
            except Exception:  # one bad voucher must never stop the DJ from taking the next
                log.exception("listen: handling a voucher failed")
            finally:
                self._queue.task_done()

    async def _drain_vouchers(self) -> None:
        """Wait until every voucher received so far is taken (bounded: see ``DRAIN_BEFORE_CLOSE_S``).

        Vouchers are cumulative, so the waiting ones are checked highest first: within the bound, what we close
        with is the newest received, not the oldest still waiting. (Lower ones are refused as stale then; a
        forged high one is refused and the next highest is taken.)
        """
        waiting: list[SignedEnvelope] = []
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
            self._queue.task_done()
        for envelope in sorted(waiting, key=_amount, reverse=True):
            self._queue.put_nowait(envelope)
        try:
            await asyncio.wait_for(self._queue.join(), DRAIN_BEFORE_CLOSE_S)
        except TimeoutError:
            log.warning("listen: closing with %d vouchers not yet checked", self._queue.qsize())

    def _refuse(self, envelope: SignedEnvelope, reason: str) -> None:
        self._count_refusal(lambda: envelope.author_peer_id, reason)

    def _count_refusal(self, who: Callable[[], str], reason: str, detail: str = "") -> None:
        """Counted per reason (a fixed set: a peer cannot grow the table); logged 1st, 2nd, 4th, 8th ... time."""
        count = self.refused[reason] = self.refused.get(reason, 0) + 1
        if count & (count - 1) == 0:
            log.info(
                "listen: voucher from %s refused: %s%s (%d so far)",
                who(),
                reason,
                f": {detail}" if detail else "",
                count,
            )

    async def take(self, envelope: SignedEnvelope) -> int:
        """Check one ``listen_voucher``; returns the wei it credits (0 if refused, with a logged reason)."""
        message = envelope.message
        if not isinstance(message, ListenVoucher) or message.dj != self.node.public_key:
            return 0
        state = self._channels.get(message.channel)
        if (
            state is not None
            and state.peer == envelope.author
            and message.amount == self.book.total(message.channel)
        ):
            return 0  # the voucher we hold, once more (it came both by gossip and ahead of a join): not a refusal
        reason = await self._check(envelope, message)
        if isinstance(reason, str):
            self._refuse(envelope, reason)
            return 0
        return reason

    async def _check(self, envelope: SignedEnvelope, message: ListenVoucher) -> str | int:
        if (
            message.chain_id != self.chain.chain_id
            or to_checksum_address(message.contract) != self.channels.address
        ):
            return "voucher for another chain or contract"
        price = self._streams.get(message.stream)
        if price is None:
            return "not a stream this DJ sells"
        if message.channel in self._settled:
            return "channel already closed"
        state = self._channels.get(message.channel)
        if state is None:
            terms = await self._read_terms(message.channel)
            if isinstance(terms, str):
                return terms
            try:
                self.book.track(terms)
            except VoucherRefusedError as exc:
                return exc.reason
            state = self._channels[message.channel] = _Channel(terms)
        if state.peer is None:
            if not binding_holds(
                self.channels.domain, message.channel, envelope.author, message.binding, state.terms.listener
            ):
                return "channel not bound to this peer by its listener"
            state.peer = envelope.author
        elif state.peer != envelope.author:
            return "channel belongs to another listener"
        try:
            voucher = Voucher(message.channel, message.amount, Signature.from_bytes(message.signature))
            now_s = await self._chain_time()
            added = await self._accept(state, voucher, now_s)
        except VoucherRefusedError as exc:
            return exc.reason
        except LedgerError as exc:
            return f"chain unavailable: {exc}"
        self._account(envelope.author, message.stream).credited_wei += added
        state.streams.add(message.stream)
        self.accepted += 1
        return added

    async def _chain_time(self) -> int:
        """The chain's clock, read at most once per ``CHAIN_TIME_TTL_S``: one read per voucher backed the queue up."""
        now = monotonic()
        if self._chain_clock is None or now - self._chain_clock[1] > CHAIN_TIME_TTL_S:
            self._chain_clock = (await asyncio.to_thread(self.chain.timestamp), now)
        return self._chain_clock[0]

    async def _accept(self, state: _Channel, voucher: Voucher, now_s: int) -> int:
        try:
            return self.book.accept(voucher, now_s=now_s)
        except VoucherRefusedError as exc:
            stale = monotonic() - state.refreshed_at > TERMS_REFRESH_S
            if exc.reason != "amount exceeds the deposit" or not stale:
                raise
        state.refreshed_at = monotonic()
        terms = await self._read_terms(voucher.channel_id)
        if isinstance(terms, str):
            raise VoucherRefusedError(terms)
        self.book.track(terms)  # a top-up: the new deposit
        state.terms = terms
        return self.book.accept(voucher, now_s=now_s)

    async def _read_terms(self, channel_id: int) -> ChannelTerms | str:
        try:
            terms = await asyncio.to_thread(self.channels.channel, channel_id)
        except Exception as exc:  # web3 raises many kinds; an unreachable chain must not stop the DJ
            return f"chain unavailable: {type(exc).__name__}: {exc}"
        return terms if terms is not None else "channel not open on chain"

    # -- cashing in ----------------------------------------------------------------------------

    def _stream_ended(self, stream: bytes) -> asyncio.Future[list[ListenerPayment]]:
        """Close the channels that paid for ``stream`` (once, however many times we hear it ended)."""
        settling = self._settling.get(stream)
        if settling is None:
            self._ended.add(stream)
            settling = self._settling[stream] = asyncio.ensure_future(self._close_paid_by(stream))
            self._settling_started.set()
            self._settling_started = asyncio.Event()
        return settling

    async def _close_paid_by(self, stream: bytes) -> list[ListenerPayment]:
        await self._drain_vouchers()  # a channel may be known only from a voucher still in the queue
        live = {s for s in self._streams if s not in self._ended}
        channel_ids = [
            cid for cid, st in self._channels.items() if stream in st.streams and not st.streams & live
        ]
        return await self._cash_latest(channel_ids, close=True)

    async def settle(
        self, *, channel_ids: list[int] | None = None, close: bool = True
    ) -> list[ListenerPayment]:
        """Cash the latest voucher of each channel (default: all) on chain; ``close=False`` claims instead."""
        await self._drain_vouchers()
        return await self._cash_latest(channel_ids, close=close)

    async def _cash_latest(self, channel_ids: list[int] | None, *, close: bool) -> list[ListenerPayment]:
        """``settle`` once the vouchers received are taken."""
        rows: list[ListenerPayment] = []
        async with self._settle_lock:
            for channel_id in list(self._channels) if channel_ids is None else channel_ids:
                state = self._channels.get(channel_id)
                voucher = self.book.latest(channel_id)
                if state is None or voucher is None or channel_id in self._settled:
                    continue
                if not close and voucher.amount <= state.terms.paid:
                    continue
                row = await self._cash(state, voucher, close=close)
                if row is not None:
                    rows.append(row)
        return rows

    async def _cash(self, state: _Channel, voucher: Voucher, *, close: bool) -> ListenerPayment | None:
        channel_id = voucher.channel_id
        try:
            if close:
                receipt = await asyncio.to_thread(self.channels.close, voucher)
                event = self.channels.contract.events.ChannelClosed().process_receipt(receipt)
                paid, refunded = int(event[0]["args"]["paid"]), int(event[0]["args"]["refunded"])
            else:
                receipt = await asyncio.to_thread(self.channels.claim, voucher)
                event = self.channels.contract.events.Claimed().process_receipt(receipt)
                paid, refunded = int(event[0]["args"]["paid"]), 0
        except (LedgerError, IndexError, KeyError) as exc:
            message = f"cashing channel {channel_id} failed: {exc}"
            log.warning("listen: %s", message)
            self.errors.append(message)
            return None
        if close:
            self._settled.add(channel_id)
            self.book.forget(channel_id)
            del self._channels[channel_id]
        else:
            state.terms = ChannelTerms(
                channel_id,
                state.terms.listener,
                state.terms.payee,
                state.terms.deposit,
                paid,
                state.terms.expires_at,
                False,
            )
            self.book.track(state.terms)
        row = ListenerPayment(
            listener=peer_id_from_public_key(state.peer) if state.peer else "",
            listener_address=to_checksum_address(state.terms.listener),
            dj=self.address,
            channel=channel_id,
            amount_wei=paid,
            refunded_wei=refunded,
            tx="0x" + bytes(receipt["transactionHash"]).hex(),
            closed=close,
        )
        self._payments.append(row)
        log.info(
            "listen: %s channel %d: %d wei from %s",
            "closed" if close else "claimed",
            channel_id,
            paid,
            row.listener,
        )
        return row

    async def _close_due(self) -> None:
        """Close channels about to expire (a voucher not cashed before expiry is worth nothing)."""
        if not self.book.channels():
            return
        try:
            now_s = await asyncio.to_thread(self.chain.timestamp)
        except Exception as exc:
            log.info("listen: cannot read the chain's time: %s", exc)
            return
        due = [v.channel_id for v in self.book.due_for_closing(now_s=now_s)]
        if due:
            await self.settle(channel_ids=due)

    # -- reporting -----------------------------------------------------------------------------

    def payments(self) -> list[dict[str, str]]:
        """``listener_payments`` rows: listener (peer ID), dj (EVM address), amount_wei, tx."""
        return [row.to_json() for row in self._payments if row.closed]

    def summary(self) -> dict[str, Any]:
        listeners = [
            {
                "listener": peer_id_from_public_key(account.peer),
                "stream": account.stream.hex(),
                "served_s": round(account.served_s, 2),
                "paid_wei": str(account.credited_wei),
            }
            for account in self._accounts.values()
        ]
        return {
            "listener_payments": self.payments(),
            "cashed": [row.details() for row in self._payments],
            "listeners": listeners,
            "vouchers_accepted": self.accepted,
            "vouchers_refused": dict(self.refused),
            "cut_off": self.cut_off,
            "errors": list(self.errors),
        }


class PricedStreams:
    """A seller's streams at one price: what a battle DJ's node goes live through (BattleService(streams=))."""

    def __init__(self, seller: ListenSeller, *, wei_per_s: int, interval_s: int = 2) -> None:
        self.seller = seller
        self.wei_per_s = wei_per_s
        self.interval_s = interval_s

    async def start_stream(self, source: str, *, title: str | None = None) -> str:
        return await self.seller.start_stream(
            source, wei_per_s=self.wei_per_s, interval_s=self.interval_s, title=title
        )

    async def stop_stream(self, stream_id: str | None = None) -> list[ListenerPayment]:
        return await self.seller.stop_stream(stream_id)
