"""Pay-per-listen between real nodes on loopback, paying on a real EVM (py-evm, in process)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from eth_account import Account

from djmesh.ledger.evm import EvmChain, TxSender, deploy_contracts
from djmesh.ledger.evm.channels import ListenChannels
from djmesh.ledger.evm.vouchers import sign_voucher
from djmesh.node.live import LiveError, LiveService
from djmesh.node.live.listen_payer import ListenPayer
from djmesh.node.live.listen_seller import LINK_VOUCHERS, ListenSeller
from djmesh.node.live.subscription import AVOID_S
from djmesh.node.live.transport import send
from djmesh.node.node import Node
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.listen import ListenVoucher
from djmesh.protocol.relay import Pay
from tests.helpers.network import PATIENCE, bootstrap_server, wait_until
from tests.node.live.mesh import live_nodes, subscription

pytestmark = pytest.mark.timeout(120)
SINE = "lavfi:sine=frequency=440"
PRICE = 10**12  # wei per second
INTERVAL_S = 1
GRACE_S = 2.0
DJ_KEY = 1  # dev account indexes on the in-process chain


@dataclass
class Chain:
    chain: EvmChain
    contract: str

    def sender(self, n: int) -> TxSender:
        return TxSender(self.chain, Account.from_key(self.chain.dev_keys[n]))

    def address(self, n: int) -> str:
        return str(Account.from_key(self.chain.dev_keys[n]).address)

    def fee(self, tx: str) -> int:
        receipt = self.chain.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
        return int(receipt["gasUsed"]) * int(receipt["effectiveGasPrice"])


@pytest.fixture
def evm() -> Chain:
    chain = EvmChain.in_process()
    deployed = deploy_contracts(TxSender(chain, Account.from_key(chain.dev_keys[0])))
    return Chain(chain, deployed.listen_channel)


def received_vouchers(seller: ListenSeller, monkeypatch: pytest.MonkeyPatch) -> list[SignedEnvelope]:
    """Every voucher envelope the DJ's seller takes from now on, by gossip or on a listener's link."""
    received: list[SignedEnvelope] = []
    enqueue = seller._enqueue

    def record(envelope: SignedEnvelope) -> None:
        received.append(envelope)
        enqueue(envelope)

    monkeypatch.setattr(seller, "_enqueue", record)
    return received


def amounts(envelopes: list[SignedEnvelope]) -> list[ListenVoucher]:
    return sorted(
        (e.message for e in envelopes if isinstance(e.message, ListenVoucher)), key=lambda m: m.amount
    )


@contextlib.asynccontextmanager
async def paid_mesh(
    tmp_path: Path, evm: Chain, listeners: list[str], **payer_options: int
) -> AsyncIterator[
    tuple[tuple[Node, LiveService, ListenSeller], list[tuple[Node, LiveService, ListenPayer]]]
]:
    """A DJ selling through a ListenSeller and listeners paying through ListenPayers (dev keys 2, 3...)."""
    async with (
        bootstrap_server() as boot,
        live_nodes(tmp_path, boot, ["dj", *listeners]) as nodes,
        contextlib.AsyncExitStack() as stack,
    ):
        (dj_node, dj_live), *rest = nodes
        seller = ListenSeller(dj_node, dj_live, evm.chain, evm.sender(DJ_KEY), evm.contract, grace_s=GRACE_S)
        await stack.enter_async_context(seller)
        payers = []
        for n, (node, live) in enumerate(rest, start=2):
            payer = ListenPayer(node, live, evm.chain, evm.sender(n), evm.contract, **payer_options)
            await stack.enter_async_context(payer)
            payers.append((node, live, payer))
        yield (dj_node, dj_live, seller), payers


async def test_a_listener_pays_while_listening_and_the_dj_closes_with_the_latest_voucher(
    tmp_path: Path, evm: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deposit for 3 s of a 4 s listen: the listener's node must top the channel up on the way.
    async with paid_mesh(tmp_path, evm, ["ann"], deposit_s=3) as ((dj_node, _dj, seller), payers):
        ((ann_node, ann, payer),) = payers
        received = received_vouchers(seller, monkeypatch)
        dj_before = evm.chain.balance(evm.address(DJ_KEY))
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S, title="paid set")
        ann.payer = None
        with pytest.raises(LiveError, match="no wallet to pay"):
            await ann.subscribe(stream_id)
        ann.payer = payer
        await ann.subscribe(stream_id)
        # four seconds heard, however long a loaded machine takes to deliver them (a 4 s listen played 118
        # frames of 200 with the other core busy)
        listened = subscription(ann, stream_id)
        await wait_until(lambda: listened.received_frames >= 200, what="four seconds of the stream heard")
        assert listened.hops == 1
        assert ann.price(stream_id) is not None and ann.price(stream_id).wei_per_s == PRICE  # type: ignore[union-attr]
        await wait_until(lambda: seller.accepted >= 4, timeout=10, what="four vouchers at the DJ")
        heard = subscription(ann, stream_id).received_frames * 0.02
        listener_before = evm.chain.balance(evm.address(2))
        vouchers = amounts(received)
        channel_id = vouchers[0].channel
        terms = ListenChannels(evm.chain, evm.contract).channel(channel_id)
        assert terms is not None and terms.deposit > 3 * PRICE, "the channel was topped up"
        newest = vouchers[-1].amount
        # Once ann was in, her vouchers came on the link the DJ serves her on: gossip carried the first only.
        gossiped = dj_node.store.query(kind=ListenVoucher.KIND, limit=100)
        assert len(gossiped) <= 2 < len(vouchers), (len(gossiped), len(vouchers))
        (account,) = seller.summary()["listeners"]
        assert account["listener"] == ann_node.peer_id and account["served_s"] >= 3.0  # audio sent to her

        rows = await seller.stop_stream(stream_id)

        assert len(rows) == 1 and seller.payments() == [rows[0].to_json()]
        row = rows[0]
        assert row.listener == ann_node.peer_id and row.listener_address == evm.address(2)
        assert row.dj == evm.address(DJ_KEY) and row.closed
        # Paid for what was heard, never more than heard + one interval (+ what arrived since).
        assert PRICE * (heard - 2 * INTERVAL_S) <= row.amount_wei <= PRICE * (heard + 2 * INTERVAL_S)
        # Read back from the chain: the DJ got the amount (minus its gas), the listener the rest.
        assert evm.chain.balance(evm.address(DJ_KEY)) == dj_before + row.amount_wei - evm.fee(row.tx)
        assert evm.chain.balance(evm.address(2)) == listener_before + row.refunded_wei
        assert row.refunded_wei == terms.deposit - row.amount_wei and row.channel == channel_id
        assert ListenChannels(evm.chain, evm.contract).channel(row.channel) is None
        # the newest voucher received before the stop (one still on its way then comes too late: refused)
        assert row.amount_wei >= newest
        assert not seller.refused or set(seller.refused) <= {"channel already closed"}
        assert payer.vouchers_sent >= 4


async def test_the_dj_closes_with_vouchers_received_but_not_yet_checked(
    tmp_path: Path, evm: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a loaded machine vouchers wait in the DJ's queue (each check reads the chain): stopping the stream
    must cash the newest one received, not the newest one checked so far."""
    async with paid_mesh(tmp_path, evm, ["ann"]) as ((_dj_node, _dj, seller), payers):
        ((_, ann, payer),) = payers
        take = seller.take

        async def slow_take(envelope: object) -> int:
            await asyncio.sleep(2.0)  # a slow chain read: the queue backs up
            return await take(envelope)  # type: ignore[arg-type]

        monkeypatch.setattr(seller, "take", slow_take)
        received = received_vouchers(seller, monkeypatch)
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await ann.listen(stream_id, seconds=5)
        # the last voucher may be lost with the link ann closed as she left: the ones sent before it were not
        await wait_until(
            lambda: len(received) >= payer.vouchers_sent - 1,
            what=lambda: (
                f"the vouchers sent at the DJ: {len(received)} of {payer.vouchers_sent}, {seller.refused}"
            ),
        )
        assert len(received) > seller.accepted + 1, "the queue did not back up: nothing is tested"
        newest = amounts(received)[-1].amount

        rows = await seller.stop_stream(stream_id)

        assert len(rows) == 1 and rows[0].closed
        assert rows[0].amount_wei >= newest


async def test_a_listener_that_stops_paying_is_cut_off_while_a_paying_one_keeps_listening(
    tmp_path: Path, evm: Chain
) -> None:
    async with paid_mesh(tmp_path, evm, ["ann", "ben"]) as ((_dj_node, dj, seller), payers):
        (_, ann, _ann_payer), (_, ben, ben_payer) = payers
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await asyncio.gather(ann.subscribe(stream_id), ben.subscribe(stream_id))
        ann_sub, ben_sub = subscription(ann, stream_id), subscription(ben, stream_id)
        await wait_until(lambda: ben_sub.received_frames > 100, what="ben hears two seconds")

        await ben_payer.stop(stream_id)
        stopped = time.monotonic()
        await wait_until(lambda: seller.cut_off >= 1, timeout=INTERVAL_S + GRACE_S + 4, what="ben cut off")
        cut_after = time.monotonic() - stopped
        # the seller's promise is interval + grace; what a busy machine adds to it scales with the patience
        assert cut_after <= INTERVAL_S + GRACE_S + 1.5 * PATIENCE, cut_after

        # the DJ closed his link: frames sent before the close have landed, and none can come after it
        await wait_until(lambda: ben_sub.parent is None or ben_sub.parent.closed, what="ben's link closed")
        ben_frames, ann_frames = ben_sub.received_frames, ann_sub.received_frames
        await wait_until(
            lambda: ann_sub.received_frames >= ann_frames + 120, what="ann, who pays, to keep listening"
        )
        assert ben_sub.received_frames == ben_frames, "ben rejoined without paying"
        assert not ann_sub.hub.children, "a listener must not relay a paid stream"
        hub = dj.hub_for(bytes.fromhex(stream_id))
        # ann (a loaded machine may have cut her off once too)
        assert hub is not None and len(hub.children) == 1

        rows = {row.listener_address: row for row in await seller.stop_stream(stream_id)}
        assert set(rows) == {evm.address(2), evm.address(3)}
        assert rows[evm.address(2)].amount_wei > rows[evm.address(3)].amount_wei + 2 * PRICE


async def test_forged_replayed_and_borrowed_vouchers_are_refused_with_reasons(
    tmp_path: Path, evm: Chain, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.INFO, logger="djmesh.node.live.listen_seller")
    async with paid_mesh(tmp_path, evm, ["ann", "eve"]) as ((_dj_node, _dj, seller), payers):
        (ann_node, ann, _), (eve_node, _eve, _) = payers
        received = received_vouchers(seller, monkeypatch)
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await ann.subscribe(stream_id)
        await wait_until(lambda: seller.accepted >= 3, timeout=10, what="ann's vouchers accepted")
        vouchers = amounts(received)
        first, genuine = vouchers[0], vouchers[-1]
        channels = ListenChannels(evm.chain, evm.contract)
        forged_sig = sign_voucher(
            evm.chain.dev_keys[9], channels.domain, genuine.channel, genuine.amount * 10
        )

        await ann_node.publish(
            replace(genuine, amount=genuine.amount * 10, signature=forged_sig.signature.to_bytes())
        )
        await ann_node.publish(first)  # ann's own first voucher, sent again: replayed
        await eve_node.publish(genuine)  # eve presents ann's channel as hers
        expected = {
            "not signed by the channel's listener",
            "amount not above the latest voucher (stale or replayed)",
            "channel belongs to another listener",
        }
        await wait_until(
            lambda: expected <= set(seller.refused), timeout=10, what=lambda: f"refusals {seller.refused}"
        )
        for reason in expected:
            assert any(reason in record.getMessage() for record in caplog.records), reason

        # Nothing was credited by them, and the DJ goes on serving the honest listener.
        accepted = seller.accepted
        ann_sub = subscription(ann, stream_id)
        frames = ann_sub.received_frames
        await wait_until(lambda: seller.accepted > accepted + 1, timeout=10, what="ann keeps paying")
        await wait_until(lambda: ann_sub.received_frames > frames + 50, what="ann keeps hearing the stream")
        rows = await seller.stop_stream(stream_id)
        assert [r.listener for r in rows] == [ann_node.peer_id]
        assert rows[0].amount_wei < genuine.amount * 10


async def test_the_listener_reclaims_the_rest_after_the_timeout(tmp_path: Path, evm: Chain) -> None:
    async with paid_mesh(tmp_path, evm, ["ann"], channel_timeout_s=600, deposit_s=100) as (
        (_, dj, seller),
        payers,
    ):
        ((_, ann, payer),) = payers
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await ann.subscribe(stream_id)
        await wait_until(lambda: seller.accepted >= 2, timeout=10, what="two vouchers at the DJ")
        claimed = await seller.settle(close=False)  # the DJ cashes what it has, keeping the channel open
        assert len(claimed) == 1 and not claimed[0].closed and claimed[0].amount_wei >= 2 * PRICE
        await seller.close()  # ... and then vanishes without closing
        await dj.stop_stream(stream_id)
        assert await payer.reclaim() == []  # not expired yet

        evm.chain.advance_time(601)
        before = evm.chain.balance(evm.address(2))
        rows = await payer.reclaim()
        assert len(rows) == 1 and rows[0]["channel"] == claimed[0].channel
        assert int(rows[0]["paid_wei"]) == claimed[0].amount_wei
        assert int(rows[0]["refunded_wei"]) == 100 * PRICE - claimed[0].amount_wei
        assert evm.chain.balance(evm.address(2)) == before + int(rows[0]["refunded_wei"]) - evm.fee(
            rows[0]["tx"]
        )
        assert await payer.reclaim() == []  # once


async def test_vouchers_go_on_the_link_the_dj_serves_so_a_listener_without_gossip_keeps_listening(
    tmp_path: Path, evm: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Gossip to the DJ's inbox took 1-4 s on a loaded machine, more than the grace: paying listeners were cut off.
    Here ann's node cannot gossip a voucher at all; once she is in, hers go on her link and she is never cut off."""
    async with paid_mesh(tmp_path, evm, ["ann"]) as ((_dj_node, _dj, seller), payers):
        ((ann_node, ann, payer),) = payers
        publish_signed = ann_node.publish_signed

        async def no_vouchers(envelope: SignedEnvelope) -> None:
            if not isinstance(envelope.message, ListenVoucher):
                await publish_signed(envelope)

        monkeypatch.setattr(ann_node, "publish_signed", no_vouchers)
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await ann.subscribe(stream_id)
        listened = subscription(ann, stream_id)
        # well past the grace and a few intervals: without vouchers she would have been cut off by now
        frames = int((GRACE_S + 4 * INTERVAL_S) / 0.02)
        await wait_until(lambda: listened.received_frames >= frames, what="ann hears past the grace")
        assert seller.cut_off == 0 and listened.reparents == 0
        assert seller.accepted >= 3 and payer.vouchers_sent >= seller.accepted


async def test_vouchers_on_a_link_are_checked_cheaply_and_a_flood_or_a_borrowed_one_is_dropped(
    tmp_path: Path, evm: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with paid_mesh(tmp_path, evm, ["ann", "eve"]) as ((_dj_node, _dj, seller), payers):
        (ann_node, ann, _), (_eve_node, eve, _) = payers
        received = received_vouchers(seller, monkeypatch)
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await asyncio.gather(ann.subscribe(stream_id), eve.subscribe(stream_id))
        await wait_until(
            lambda: any(e.author == ann_node.public_key for e in received[1:]), what="a voucher of ann's"
        )
        anns = next(e for e in reversed(received) if e.author == ann_node.public_key)
        eve_link = subscription(eve, stream_id).parent
        assert eve_link is not None
        accepted = seller.accepted

        sent_at = time.monotonic()
        send(eve_link, Pay(anns.wire))  # eve passes ann's voucher off on her own link
        send(eve_link, Pay(b"\x00" * 300))  # garbage
        for _ in range(40):  # and floods
            send(eve_link, Pay(anns.wire))
        expected = {
            "not a voucher of this listener for this stream",
            "bad voucher envelope",
            "vouchers sent too fast",
        }
        await wait_until(
            lambda: sum(seller.refused.get(reason, 0) for reason in expected) >= 42,
            what=lambda: f"all 42 refused: {seller.refused}",
        )
        assert expected <= set(seller.refused)
        # a flood is cut at the rate limit: the burst, and what refilled meanwhile, reached the signature check
        refilled = math.ceil(time.monotonic() - sent_at) * LINK_VOUCHERS.per_second
        assert seller.refused["vouchers sent too fast"] >= 42 - LINK_VOUCHERS.burst - refilled

        # Nothing was credited by them, and the DJ goes on serving the honest listener, who pays on.
        ann_sub = subscription(ann, stream_id)
        frames = ann_sub.received_frames
        await wait_until(lambda: seller.accepted > accepted + 1, what="ann keeps paying")
        await wait_until(lambda: ann_sub.received_frames > frames + 100, what="ann keeps hearing the stream")


async def test_a_listener_dropped_by_the_dj_comes_back_to_it_at_once(tmp_path: Path, evm: Chain) -> None:
    """A priced stream has one server, its DJ: a listener whose link to it broke must not avoid it (for
    10 s, as it avoids a relay that went silent) while its payments run on."""
    async with paid_mesh(tmp_path, evm, ["ann"]) as ((_dj_node, dj, seller), payers):
        ((_, ann, _),) = payers
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        await ann.subscribe(stream_id)
        ann_sub = subscription(ann, stream_id)
        await wait_until(lambda: ann_sub.received_frames > 50, what="ann hears a second")
        hub = dj.hub_for(bytes.fromhex(stream_id))
        assert hub is not None and len(hub.children) == 1
        dj_address = ann_sub.parent_address

        (child,) = hub.children.values()
        hub.cut(child.link, "a hiccup")
        cut_at = time.monotonic()

        await wait_until(lambda: ann_sub.reparents >= 1 and ann_sub.hops == 1, what="ann back on the DJ")
        # not a guess at speed: avoiding the DJ, she could not be back before AVOID_S (she was back in 0.3 s)
        assert time.monotonic() - cut_at < AVOID_S
        assert ann_sub.parent_address == dj_address
        frames = ann_sub.received_frames
        await wait_until(lambda: ann_sub.received_frames > frames + 100, what="ann hearing the stream again")
        assert seller.cut_off == 0


async def test_a_joiner_that_never_paid_is_refused_however_many_identities_it_has(
    tmp_path: Path, evm: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identities cost nothing: a grace of free audio per new face was free audio for ever. The DJ admits only
    listeners whose channel paid, so a node that skips the payment gets nothing at all."""
    async with paid_mesh(tmp_path, evm, ["eve"]) as ((_dj_node, dj, seller), payers):
        ((_, eve, payer),) = payers

        async def never_pays(announce: SignedEnvelope, price: object) -> bytes | None:
            return None  # says it paid, and joins

        monkeypatch.setattr(payer, "before_join", never_pays)
        stream_id = await seller.start_stream(SINE, wei_per_s=PRICE, interval_s=INTERVAL_S)
        with pytest.raises(LiveError):
            await eve.subscribe(stream_id)
        hub = dj.hub_for(bytes.fromhex(stream_id))
        assert hub is not None and not hub.children
        assert seller.accepted == 0
        assert not seller._accounts, "a join that paid nothing must not grow the DJ's tables"
