"""Solana over JSON-RPC (solana-py's AsyncClient): a real cluster, a test validator, or any RPC URL.

The node sends the signed bytes with preflight on (so a short wallet is refused before it pays a
fee), waits for the configured commitment, then reads the transaction back with getTransaction:
the receipt's logs, compute units, fee and balances are the cluster's record, not local guesses.
"""

from __future__ import annotations

from solana.exceptions import SolanaRpcException
from solana.rpc.async_api import AsyncClient
from solana.rpc.commitment import Commitment
from solana.rpc.core import (
    RPCException,
    RPCNoResultException,
    TransactionExpiredBlockheightExceededError,
    UnconfirmedTxError,
)
from solana.rpc.models import TxOpts
from solders.account import Account
from solders.hash import Hash
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.signature import Signature
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_status import TransactionErrorType

from djmesh.ledger.solana.backend import Receipt, failure
from djmesh.ledger.solana.errors import ClusterError

_RPC_ERRORS = (
    SolanaRpcException,
    RPCException,
    RPCNoResultException,
    UnconfirmedTxError,
    TransactionExpiredBlockheightExceededError,
)


class RpcBackend:
    def __init__(
        self,
        url: str,
        *,
        commitment: Commitment | str = Commitment.CONFIRMED,
        timeout_s: float = 30.0,
        poll_interval_s: float = 0.4,
    ) -> None:
        commitment = Commitment(commitment)
        if commitment is Commitment.PROCESSED:
            raise ValueError(
                "commitment must be 'confirmed' or 'finalized': getTransaction cannot read 'processed'"
            )
        self.url = url
        self.commitment = commitment
        self.poll_interval_s = poll_interval_s
        self.client = AsyncClient(url, commitment=commitment, timeout=timeout_s)
        self._last_valid_height: dict[Hash, int] = {}

    @property
    def name(self) -> str:
        return f"rpc {self.url}"

    async def latest_blockhash(self) -> Hash:
        try:
            value = (await self.client.get_latest_blockhash(self.commitment)).value
        except _RPC_ERRORS as exc:
            raise self._cluster_error("getLatestBlockhash", exc) from exc
        self._last_valid_height = {value.blockhash: value.last_valid_block_height}
        return value.blockhash

    def encode(self, transaction: Transaction) -> tuple[bytes, TxOpts]:
        """The wire bytes and options `submit` sends (kept apart so they can be checked offline)."""
        opts = TxOpts(skip_confirmation=True, skip_preflight=False, preflight_commitment=self.commitment)
        return bytes(transaction), opts

    async def submit(self, transaction: Transaction) -> Receipt:
        raw, opts = self.encode(transaction)
        try:
            signature = (await self.client.send_raw_transaction(raw, opts)).value
        except RPCException as exc:
            refusal = exc.args[0] if exc.args else None
            if isinstance(refusal, SendTransactionPreflightFailureMessage) and refusal.data.err is not None:
                raise failure(refusal.data.err, refusal.data.logs or [], transaction) from exc
            raise self._cluster_error("sendTransaction", exc) from exc
        except _RPC_ERRORS as exc:
            raise self._cluster_error("sendTransaction", exc) from exc
        try:
            await self.client.confirm_transaction(
                signature,
                self.commitment,
                sleep_seconds=self.poll_interval_s,
                last_valid_block_height=self._last_valid_height.get(transaction.message.recent_blockhash),
            )
        except _RPC_ERRORS as exc:
            raise self._cluster_error(f"confirming {signature}", exc) from exc
        fetched = await self._fetch(signature)
        if fetched is None:
            raise ClusterError(f"{self.url} confirmed {signature} but getTransaction does not return it")
        receipt, error = fetched
        if error is not None:
            raise failure(error, receipt.logs, transaction)
        return receipt

    async def lookup(self, signature: Signature) -> Receipt | None:
        fetched = await self._fetch(signature)
        return None if fetched is None else fetched[0]

    async def _fetch(self, signature: Signature) -> tuple[Receipt, TransactionErrorType | None] | None:
        try:
            response = await self.client.get_transaction(
                signature, encoding="base64", commitment=self.commitment, max_supported_transaction_version=0
            )
        except _RPC_ERRORS as exc:
            raise self._cluster_error("getTransaction", exc) from exc
        if response.value is None:
            return None
        record = response.value.transaction
        meta, sent = record.meta, record.transaction
        if meta is None or not isinstance(sent, VersionedTransaction):
            raise ClusterError(f"{self.url} returned {signature} without its status or transaction")
        keys = list(sent.message.account_keys)
        if meta.loaded_addresses is not None:
            keys += list(meta.loaded_addresses.writable) + list(meta.loaded_addresses.readonly)
        pre_tokens = {b.account_index: int(b.ui_token_amount.amount) for b in meta.pre_token_balances or []}
        post_tokens = {b.account_index: int(b.ui_token_amount.amount) for b in meta.post_token_balances or []}
        receipt = Receipt(
            signature=signature,
            logs=tuple(meta.log_messages or ()),
            compute_units=meta.compute_units_consumed or 0,
            fee=meta.fee,
            lamports={key: (meta.pre_balances[i], meta.post_balances[i]) for i, key in enumerate(keys)},
            token_amounts={
                keys[i]: (pre_tokens.get(i, 0), post_tokens.get(i, 0))
                for i in sorted(pre_tokens.keys() | post_tokens)
            },
            error=None if meta.err is None else str(meta.err),
        )
        return receipt, meta.err

    async def balance(self, address: Pubkey) -> int:
        try:
            return (await self.client.get_balance(address, self.commitment)).value
        except _RPC_ERRORS as exc:
            raise self._cluster_error("getBalance", exc) from exc

    async def account(self, address: Pubkey) -> Account | None:
        try:
            return (await self.client.get_account_info(address, self.commitment)).value
        except _RPC_ERRORS as exc:
            raise self._cluster_error("getAccountInfo", exc) from exc

    async def rent_exempt_minimum(self, size: int) -> int:
        try:
            return (await self.client.get_minimum_balance_for_rent_exemption(size, self.commitment)).value
        except _RPC_ERRORS as exc:
            raise self._cluster_error("getMinimumBalanceForRentExemption", exc) from exc

    async def airdrop(self, address: Pubkey, lamports: int) -> None:
        try:
            signature = (await self.client.request_airdrop(address, lamports, self.commitment)).value
            await self.client.confirm_transaction(
                signature, self.commitment, sleep_seconds=self.poll_interval_s
            )
        except _RPC_ERRORS as exc:
            raise self._cluster_error("requestAirdrop", exc) from exc

    async def aclose(self) -> None:
        await self.client.close()

    def _cluster_error(self, what: str, exc: Exception) -> ClusterError:
        detail = exc.args[0] if isinstance(exc, RPCException) and exc.args else exc
        message = getattr(detail, "message", None) or str(detail) or type(exc).__name__
        return ClusterError(f"{self.url}: {what} failed: {message}")
