"""Client for ListenChannel: a listener opens and tops up channels; the DJ claims or closes with its
latest voucher; after expiry the listener takes back the rest."""

from __future__ import annotations

from typing import Any

from eth_utils.address import to_checksum_address
from web3.types import TxReceipt

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.deploy import LISTEN_CHANNEL, bind
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.sender import TxSender
from djmesh.ledger.evm.vouchers import ChannelTerms, Voucher, channel_domain


class ListenChannels:
    def __init__(self, chain: EvmChain, address: str, sender: TxSender | None = None) -> None:
        self.chain = chain
        self.contract = bind(chain, LISTEN_CHANNEL, address)
        self.address: str = self.contract.address
        self.sender = sender
        self.domain = channel_domain(chain.chain_id, self.address)

    def _send(self) -> TxSender:
        if self.sender is None:
            raise LedgerError("this channel client is read-only (no wallet unlocked)")
        return self.sender

    # ---- listener --------------------------------------------------------------------------------

    def open(self, payee: str, deposit: int, timeout_s: int) -> int:
        """Deposit for ``payee``; returns the new channel's ID."""
        receipt = self._send().transact(
            self.contract.functions.open(to_checksum_address(payee), timeout_s), value=deposit
        )
        events = self.contract.events.ChannelOpened().process_receipt(receipt)
        if len(events) != 1:
            raise LedgerError("channel opened, but its ChannelOpened event is missing")
        return int(events[0]["args"]["channel_id"])

    def top_up(self, channel_id: int, amount: int, timeout_s: int = 0) -> TxReceipt:
        return self._send().transact(self.contract.functions.top_up(channel_id, timeout_s), value=amount)

    def expire(self, channel_id: int) -> TxReceipt:
        return self._send().transact(self.contract.functions.expire(channel_id))

    # ---- payee (DJ) ------------------------------------------------------------------------------

    def claim(self, voucher: Voucher) -> TxReceipt:
        call = self.contract.functions.claim(voucher.channel_id, voucher.amount, voucher.signature.as_abi())
        return self._send().transact(call)

    def close(self, voucher: Voucher) -> TxReceipt:
        call = self.contract.functions.close(voucher.channel_id, voucher.amount, voucher.signature.as_abi())
        return self._send().transact(call)

    # ---- both ------------------------------------------------------------------------------------

    def withdraw(self) -> TxReceipt:
        return self._send().transact(self.contract.functions.withdraw())

    def channel(self, channel_id: int) -> ChannelTerms | None:
        """An open channel's terms; None once it is closed or expired (its storage is deleted)."""
        listener, payee, deposit, paid, expires_at = self.contract.functions.channels(channel_id).call()
        if int(listener, 16) == 0:
            return None
        return ChannelTerms(channel_id, listener, payee, deposit, paid, expires_at, False)

    def owed(self, account: str) -> int:
        return int(self.contract.functions.owed(to_checksum_address(account)).call())

    def channels_of(self, account: str, *, from_block: int = 0) -> list[tuple[str, ChannelTerms]]:
        """(role, terms) of every channel ``account`` opened ("listener") or is paid by ("payee").

        Ended channels come from their events: ``closed`` set, ``paid`` what the DJ got in the end.
        """
        checksummed = to_checksum_address(account)
        out: dict[int, tuple[str, ChannelTerms]] = {}
        for role in ("listener", "payee"):
            opened = self.contract.events.ChannelOpened.get_logs(
                argument_filters={role: checksummed}, from_block=from_block
            )
            for log in opened:
                args = log["args"]
                channel_id = int(args["channel_id"])
                terms = self.channel(channel_id) or self._ended(channel_id, args, from_block)
                out.setdefault(channel_id, (role, terms))
        return [out[k] for k in sorted(out)]

    def _ended(self, channel_id: int, opened: Any, from_block: int) -> ChannelTerms:
        closed = self.contract.events.ChannelClosed.get_logs(
            argument_filters={"channel_id": channel_id}, from_block=from_block
        )
        paid = int(closed[-1]["args"]["paid"]) if closed else 0
        refunded = int(closed[-1]["args"]["refunded"]) if closed else 0
        return ChannelTerms(
            channel_id,
            opened["listener"],
            opened["payee"],
            paid + refunded,
            paid,
            int(opened["expires_at"]),
            True,
        )
