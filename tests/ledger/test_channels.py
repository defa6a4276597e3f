"""ListenChannel on a real EVM (py-evm): deposits, cumulative vouchers, close, expiry, reentrancy."""

from __future__ import annotations

import hashlib

import pytest

from djmesh.ledger.evm import TransactionFailedError, sign_voucher
from djmesh.ledger.evm.eip712 import SECP256K1_N, Signature
from djmesh.ledger.evm.vouchers import Voucher
from tests.ledger.conftest import ETH, Evm

LISTENER, DJ = 1, 2


def _open(evm: Evm, deposit: int = ETH, timeout: int = 3600) -> int:
    return evm.channels(LISTENER).open(evm.address(DJ), deposit, timeout)


def test_dj_closes_with_the_latest_voucher_and_the_listener_gets_the_rest(evm: Evm) -> None:
    channel = _open(evm)
    listener = evm.channels(LISTENER)
    vouchers = [sign_voucher(evm.key(LISTENER), listener.domain, channel, n * ETH // 10) for n in (1, 2, 3)]
    dj_before, listener_before = evm.chain.balance(evm.address(DJ)), evm.chain.balance(evm.address(LISTENER))
    receipt = evm.channels(DJ).close(vouchers[-1])
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert evm.chain.balance(evm.address(DJ)) == dj_before + 3 * ETH // 10 - fee
    assert evm.chain.balance(evm.address(LISTENER)) == listener_before + 7 * ETH // 10
    assert evm.channels(DJ).channel(channel) is None  # ended: nothing can act on it again
    with pytest.raises(TransactionFailedError, match="channel is not open"):
        evm.channels(DJ).close(vouchers[-1])


def test_claims_are_cumulative_and_a_stale_or_replayed_voucher_is_refused(evm: Evm) -> None:
    channel = _open(evm)
    dj = evm.channels(DJ)
    low, high = (sign_voucher(evm.key(LISTENER), dj.domain, channel, a) for a in (ETH // 10, ETH // 2))
    dj.claim(high)
    assert dj.channel(channel).paid == ETH // 2  # type: ignore[union-attr]
    with pytest.raises(TransactionFailedError, match="not above what was already paid"):
        dj.claim(high)  # replayed
    with pytest.raises(TransactionFailedError, match="not above what was already paid"):
        dj.claim(low)  # stale
    with pytest.raises(TransactionFailedError, match="below what was already paid"):
        dj.close(low)
    contract_before = evm.chain.balance(evm.contracts.listen_channel)
    dj.close(high)  # closing at what was already paid just returns the rest
    assert evm.chain.balance(evm.contracts.listen_channel) == contract_before - ETH // 2


def test_forged_vouchers_are_refused(evm: Evm) -> None:
    channel = _open(evm)
    dj = evm.channels(DJ)
    other_channel = _open(evm)
    stranger = hashlib.sha256(b"stranger").digest()
    forged = [
        sign_voucher(stranger, dj.domain, channel, ETH // 10),  # not the listener's key
        sign_voucher(evm.key(DJ), dj.domain, channel, ETH // 10),  # the DJ signing for itself
    ]
    for voucher in forged:
        with pytest.raises(TransactionFailedError, match="not signed by the listener"):
            dj.claim(voucher)
    genuine = sign_voucher(evm.key(LISTENER), dj.domain, other_channel, ETH // 10)
    with pytest.raises(TransactionFailedError, match="not signed by the listener"):
        dj.claim(Voucher(channel, genuine.amount, genuine.signature))  # moved to another channel
    with pytest.raises(TransactionFailedError, match="not signed by the listener"):
        dj.claim(
            Voucher(
                channel, ETH // 5, sign_voucher(evm.key(LISTENER), dj.domain, channel, ETH // 10).signature
            )
        )
    s = int.from_bytes(genuine.signature.s, "big")
    twin = Signature(55 - genuine.signature.v, genuine.signature.r, (SECP256K1_N - s).to_bytes(32, "big"))
    with pytest.raises(TransactionFailedError, match="malleable"):
        dj.claim(Voucher(other_channel, genuine.amount, twin))
    too_much = sign_voucher(evm.key(LISTENER), dj.domain, channel, 2 * ETH)
    with pytest.raises(TransactionFailedError, match="exceeds the deposit"):
        dj.claim(too_much)
    with pytest.raises(TransactionFailedError, match="only the channel's payee"):
        evm.channels(3).claim(sign_voucher(evm.key(LISTENER), dj.domain, channel, ETH // 10))


def test_the_listener_reclaims_the_rest_only_after_the_timeout(evm: Evm) -> None:
    channel = _open(evm, timeout=600)
    listener, dj = evm.channels(LISTENER), evm.channels(DJ)
    dj.claim(sign_voucher(evm.key(LISTENER), dj.domain, channel, ETH // 4))
    with pytest.raises(TransactionFailedError, match="not expired yet"):
        listener.expire(channel)
    late = sign_voucher(evm.key(LISTENER), dj.domain, channel, ETH // 2)
    evm.chain.advance_time(601)
    with pytest.raises(TransactionFailedError, match="channel expired"):
        dj.close(late)
    with pytest.raises(TransactionFailedError, match="only the channel's listener"):
        evm.channels(DJ).expire(channel)
    before = evm.chain.balance(evm.address(LISTENER))
    receipt = listener.expire(channel)
    fee = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    assert evm.chain.balance(evm.address(LISTENER)) == before + 3 * ETH // 4 - fee
    with pytest.raises(TransactionFailedError, match="channel is not open"):
        listener.expire(channel)


def test_top_up_raises_the_ceiling_and_extends_the_expiry(evm: Evm) -> None:
    channel = _open(evm, timeout=600)
    listener = evm.channels(LISTENER)
    before = listener.channel(channel)
    assert before is not None
    listener.top_up(channel, ETH, timeout_s=7200)
    after = listener.channel(channel)
    assert after is not None and after.deposit == 2 * ETH and after.expires_at > before.expires_at + 6000
    evm.channels(DJ).claim(sign_voucher(evm.key(LISTENER), listener.domain, channel, 3 * ETH // 2))
    with pytest.raises(TransactionFailedError, match="only the channel's listener"):
        evm.channels(DJ).top_up(channel, ETH)


def test_channel_listing_by_role(evm: Evm) -> None:
    first, second = _open(evm), _open(evm)
    dj = evm.channels(DJ)
    dj.close(sign_voucher(evm.key(LISTENER), dj.domain, first, ETH // 10))
    listed = dj.channels_of(evm.address(DJ))
    assert [(role, t.channel_id, t.closed) for role, t in listed] == [
        ("payee", first, True),
        ("payee", second, False),
    ]
    assert listed[0][1].paid == ETH // 10 and listed[0][1].deposit == ETH
    assert [role for role, _ in evm.channels(LISTENER).channels_of(evm.address(LISTENER))] == ["listener"] * 2
    assert evm.channels(3).channels_of(evm.address(3)) == []


def test_a_payee_contract_cannot_re_enter_to_cash_a_voucher_twice(evm: Evm) -> None:
    channels = evm.channels(LISTENER)
    attacker = evm.attacker(evm.contracts.listen_channel)
    channel = channels.open(attacker.address, ETH, 3600)
    voucher = sign_voucher(evm.key(LISTENER), channels.domain, channel, 3 * ETH // 10)
    args = (channel, voucher.amount, voucher.signature.as_abi())
    evm.sender(9).transact(
        attacker.functions.set_reentry(channels.contract.encode_abi("claim", args=list(args)))
    )
    evm.drive(attacker, channels.contract, "claim", *args)
    assert attacker.functions.attempts().call() == 1  # it did try, from inside the payment
    assert attacker.functions.succeeded().call() == 0
    assert evm.chain.balance(attacker.address) == 3 * ETH // 10
    assert evm.chain.balance(evm.contracts.listen_channel) == 7 * ETH // 10


def test_a_listener_contract_cannot_re_enter_while_reclaiming(evm: Evm) -> None:
    channels = evm.channels(DJ)
    attacker = evm.attacker(evm.contracts.listen_channel)
    evm.drive(attacker, channels.contract, "open", evm.address(DJ), 3600, value=ETH)
    channel = channels.contract.functions.channel_count().call()
    other = evm.channels(LISTENER).open(evm.address(DJ), ETH, 3600)  # someone else's money in the contract
    evm.sender(9).transact(
        attacker.functions.set_reentry(channels.contract.encode_abi("expire", args=[channel]))
    )
    evm.chain.advance_time(3601)
    evm.drive(attacker, channels.contract, "expire", channel)
    assert attacker.functions.attempts().call() == 1 and attacker.functions.succeeded().call() == 0
    assert evm.chain.balance(attacker.address) == ETH
    assert evm.chain.balance(evm.contracts.listen_channel) == ETH
    assert evm.channels(LISTENER).channel(other) is not None
