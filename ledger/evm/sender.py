"""Sending transactions from one account: nonces handed out in order, even from several threads."""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.exceptions import ValidationError
from web3 import Web3
from web3.contract.contract import ContractConstructor, ContractFunction
from web3.exceptions import ContractLogicError, Web3Exception, Web3RPCError
from web3.types import Nonce, TxParams, TxReceipt, Wei

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.errors import TransactionFailedError

#: headroom over the node's gas estimate (a recipient contract's fallback may need more than estimated)
GAS_HEADROOM = 1.2


def revert_reason(exc: BaseException) -> str:
    """The contract's revert string out of a web3 error, without the RPC decoration."""
    text = getattr(exc, "message", None) or str(exc)
    if isinstance(text, tuple):
        text = text[0]
    text = str(text)
    for prefix in ("execution reverted: ", "execution reverted:", "revert: "):
        if prefix in text:
            text = text.split(prefix, 1)[1]
            break
    return text.strip().strip("'\"") or "execution reverted"


def _tester_reverts() -> tuple[type[Exception], ...]:
    """eth-tester raises its own exception for reverts (and is only there in dev setups)."""
    try:
        from eth_tester.exceptions import TransactionFailed  # type: ignore[import-untyped]
    except ImportError:
        return ()
    return (TransactionFailed,)


#: what a refused estimate or call raises: contract reverts and the node's own refusals (no funds, ...)
REVERTS: tuple[type[Exception], ...] = (ContractLogicError, Web3RPCError, ValidationError, *_tester_reverts())


class TxSender:
    """Signs and sends transactions for ``account``.

    The lock covers picking the nonce, estimating gas, signing and handing the transaction to the
    node; waiting for the receipt (and its confirmations) happens outside it, so concurrent callers
    pipeline their transactions. A refused transaction gives its nonce back.
    """

    def __init__(self, chain: EvmChain, account: LocalAccount) -> None:
        self.chain = chain
        self.account = account
        self.address: str = account.address
        self._lock = threading.Lock()
        self._next_nonce: int | None = None

    def _nonce(self) -> int:
        pending = int(
            self.chain.w3.eth.get_transaction_count(Web3.to_checksum_address(self.address), "pending")
        )
        if self._next_nonce is None or pending > self._next_nonce:
            self._next_nonce = pending
        return self._next_nonce

    def resync(self) -> None:
        """Ask the node for the next nonce on the next send (after a reorganisation dropped ours)."""
        with self._lock:
            self._next_nonce = None

    def _fees(self) -> TxParams:
        w3 = self.chain.w3
        base = int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0)
        try:
            tip = int(w3.eth.max_priority_fee)
        except (Web3Exception, ValueError):
            tip = 10**9
        return {"maxPriorityFeePerGas": Wei(tip), "maxFeePerGas": Wei(2 * base + tip)}

    def transact(
        self,
        call: ContractFunction | ContractConstructor | None = None,
        *,
        to: str | None = None,
        value: int = 0,
        extra_gas: int = 0,
    ) -> TxReceipt:
        """Send a contract call (or a plain transfer ``to``) and wait for its confirmed receipt."""
        tx_hash = self.submit(call, to=to, value=value, extra_gas=extra_gas)
        try:
            return self.chain.wait(tx_hash)
        except TransactionFailedError:
            with self._lock:  # if it was dropped, its nonce is free again: ask the node next time
                self._next_nonce = None
            raise

    def submit(
        self,
        call: ContractFunction | ContractConstructor | None = None,
        *,
        to: str | None = None,
        value: int = 0,
        extra_gas: int = 0,
    ) -> bytes:
        """Hand a transaction to the node and return its hash without waiting for it.

        ``extra_gas`` covers calls whose cost depends on a race the estimate cannot see (another
        transaction landing first and changing which branch runs).
        """
        w3 = self.chain.w3
        with self._lock:
            nonce = self._nonce()
            params: TxParams = {
                "from": self.address,
                "nonce": Nonce(nonce),
                "value": Wei(value),
                "chainId": self.chain.chain_id,
                **self._fees(),
            }
            try:
                if call is not None:
                    params["gas"] = int(call.estimate_gas(params) * GAS_HEADROOM) + extra_gas
                    tx: dict[str, Any] = dict(call.build_transaction(params))
                else:
                    if to is None:
                        raise ValueError("a transfer needs a recipient")
                    params["to"] = Web3.to_checksum_address(to)
                    params["gas"] = int(w3.eth.estimate_gas(params))
                    tx = dict(params)
            except REVERTS as exc:
                raise TransactionFailedError(revert_reason(exc)) from exc
            tx.pop("from", None)
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
            except (Web3Exception, ValueError) as exc:
                self._next_nonce = None  # resynchronise with the node on the next send
                raise TransactionFailedError(
                    f"the node refused the transaction: {revert_reason(exc)}"
                ) from exc
            self._next_nonce = nonce + 1
        return bytes(tx_hash)

    def deploy(self, abi: list[dict[str, Any]], bytecode: bytes, *args: Any) -> str:
        constructor = self.chain.w3.eth.contract(abi=abi, bytecode=bytecode).constructor(*args)
        receipt = self.transact(constructor)
        address = receipt["contractAddress"]
        if address is None:
            raise TransactionFailedError("deployment produced no contract")
        return str(address)
