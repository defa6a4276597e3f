"""A loopback Solana JSON-RPC endpoint over LiteSVM, standing in for a cluster that cannot be reached here.

It is not a validator: it speaks the JSON-RPC methods the RPC backend calls, with responses built
from solders' own RPC response types (so the wire format is the one solana-py parses from a real
node), and executes every transaction in a real SVM. Written for the tests, independently of the
LiteSVM backend, so the two backends are checked against each other rather than against themselves.
"""

from __future__ import annotations

import base64
import json
import re
import socket
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from solders.account_decoder import UiTokenAmount
from solders.litesvm import LiteSVM
from solders.pubkey import Pubkey
from solders.rpc.errors import SendTransactionPreflightFailureMessage
from solders.rpc.responses import (
    GetAccountInfoResp,
    GetBalanceResp,
    GetBlockHeightResp,
    GetLatestBlockhashResp,
    GetMinimumBalanceForRentExemptionResp,
    GetSignatureStatusesResp,
    GetTransactionResp,
    RequestAirdropResp,
    RpcBlockhash,
    RpcResponseContext,
    RpcSimulateTransactionResult,
    SendTransactionResp,
)
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from solders.transaction import Transaction, VersionedTransaction
from solders.transaction_metadata import FailedTransactionMetadata
from solders.transaction_status import (
    EncodedConfirmedTransactionWithStatusMeta,
    EncodedTransactionWithStatusMeta,
    TransactionConfirmationStatus,
    TransactionStatus,
    UiTransactionStatusMeta,
    UiTransactionTokenBalance,
)
from spl.token.constants import TOKEN_PROGRAM_ID

PREFLIGHT_FAILURE_CODE = -32002
BLOCKHASH_LIFETIME = 150


@dataclass
class _Landed:
    slot: int
    transaction: Transaction
    meta: UiTransactionStatusMeta


class SolanaRpcStandIn:
    def __init__(self) -> None:
        self.svm = LiteSVM()
        self.slot = 1
        self.landed: dict[Signature, _Landed] = {}
        self.calls: list[str] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, listener).start()
        self.url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        method, params, request_id = body["method"], body.get("params", []), body["id"]
        self.calls.append(method)
        handler = getattr(self, "_rpc_" + re.sub(r"([A-Z])", r"_\1", method).lower(), None)
        if handler is None:
            return self._error(request_id, -32601, f"Method not found: {method}")
        reply = handler(request_id, *params)
        if isinstance(reply, web.Response):
            return reply
        return web.Response(text=reply, content_type="application/json")

    def _reply(self, request_id: int, response: Any) -> str:
        envelope = json.loads(response.to_json())
        envelope["id"] = request_id
        return json.dumps(envelope)

    def _error(self, request_id: int, code: int, message: str, data: Any = None) -> web.Response:
        error: dict[str, Any] = {"code": code, "message": message}
        if data is not None:
            error["data"] = data
        return web.json_response({"jsonrpc": "2.0", "error": error, "id": request_id})

    def _context(self) -> RpcResponseContext:
        return RpcResponseContext(self.slot)

    def _rpc_get_latest_blockhash(self, request_id: int, *_: Any) -> str:
        self.svm.expire_blockhash()
        value = RpcBlockhash(self.svm.latest_blockhash(), self.slot + BLOCKHASH_LIFETIME)
        return self._reply(request_id, GetLatestBlockhashResp(value, self._context()))

    def _rpc_get_block_height(self, request_id: int, *_: Any) -> str:
        return self._reply(request_id, GetBlockHeightResp(self.slot))

    def _rpc_get_balance(self, request_id: int, address: str, *_: Any) -> str:
        balance = self.svm.get_balance(Pubkey.from_string(address)) or 0
        return self._reply(request_id, GetBalanceResp(balance, self._context()))

    def _rpc_get_account_info(self, request_id: int, address: str, *_: Any) -> str:
        account = self.svm.get_account(Pubkey.from_string(address))
        return self._reply(request_id, GetAccountInfoResp(account, self._context()))

    def _rpc_get_minimum_balance_for_rent_exemption(self, request_id: int, size: int, *_: Any) -> str:
        return self._reply(
            request_id,
            GetMinimumBalanceForRentExemptionResp(self.svm.minimum_balance_for_rent_exemption(size)),
        )

    def _rpc_request_airdrop(self, request_id: int, address: str, lamports: int, *_: Any) -> str:
        result = self.svm.airdrop(Pubkey.from_string(address), lamports)
        assert not isinstance(result, FailedTransactionMetadata), result
        self.slot += 1
        signature = result.signature()
        self.landed[signature] = _Landed(
            self.slot, Transaction.default(), UiTransactionStatusMeta(None, 0, [], [])
        )
        return self._reply(request_id, RequestAirdropResp(signature))

    def _rpc_send_transaction(
        self, request_id: int, encoded: str, config: dict[str, Any]
    ) -> str | web.Response:
        assert config.get("encoding") == "base64", config
        transaction = Transaction.from_bytes(base64.b64decode(encoded))
        if not config.get("skipPreflight", False):
            simulated = self.svm.simulate_transaction(transaction)
            if isinstance(simulated, FailedTransactionMetadata):
                failure = SendTransactionPreflightFailureMessage(
                    "Transaction simulation failed",
                    RpcSimulateTransactionResult(err=simulated.err(), logs=simulated.meta().logs()),
                )
                detail = json.loads(failure.to_json())
                return self._error(request_id, PREFLIGHT_FAILURE_CODE, detail["message"], detail["data"])
        keys = list(transaction.message.account_keys)
        pre = [self._lamports_and_tokens(key) for key in keys]
        result = self.svm.send_transaction(transaction)
        post = [self._lamports_and_tokens(key) for key in keys]
        self.slot += 1
        if isinstance(result, FailedTransactionMetadata):
            err, metadata = result.err(), result.meta()
        else:
            err, metadata = None, result
        meta = UiTransactionStatusMeta(
            err=err,
            fee=metadata.fee(),
            pre_balances=[lamports for lamports, _ in pre],
            post_balances=[lamports for lamports, _ in post],
            log_messages=metadata.logs(),
            pre_token_balances=_token_balances(pre),
            post_token_balances=_token_balances(post),
            compute_units_consumed=metadata.compute_units_consumed(),
        )
        signature = transaction.signatures[0]
        self.landed[signature] = _Landed(self.slot, transaction, meta)
        return self._reply(request_id, SendTransactionResp(signature))

    def _rpc_get_signature_statuses(self, request_id: int, signatures: list[str], *_: Any) -> str:
        statuses: list[TransactionStatus | None] = []
        for text in signatures:
            landed = self.landed.get(Signature.from_string(text))
            statuses.append(
                None
                if landed is None
                else TransactionStatus(
                    landed.slot,
                    confirmations=None,
                    err=landed.meta.err,
                    confirmation_status=TransactionConfirmationStatus.Finalized,
                )
            )
        return self._reply(request_id, GetSignatureStatusesResp(statuses, self._context()))

    def _rpc_get_transaction(self, request_id: int, text: str, config: dict[str, Any]) -> str:
        assert config.get("encoding") == "base64", config
        landed = self.landed.get(Signature.from_string(text))
        if landed is None:
            return self._reply(request_id, GetTransactionResp(None))
        record = EncodedConfirmedTransactionWithStatusMeta(
            landed.slot,
            EncodedTransactionWithStatusMeta(
                VersionedTransaction.from_legacy(landed.transaction), landed.meta, None
            ),
        )
        return self._reply(request_id, GetTransactionResp(record))

    def _lamports_and_tokens(self, key: Pubkey) -> tuple[int, tuple[Pubkey, Pubkey, int, int] | None]:
        account = self.svm.get_account(key)
        if account is None:
            return 0, None
        if account.owner == TOKEN_PROGRAM_ID and len(account.data) == 165:
            state = TokenAccount.from_bytes(account.data)
            return account.lamports, (state.mint, state.owner, state.amount, self._decimals(state.mint))
        return account.lamports, None

    def _decimals(self, mint: Pubkey) -> int:
        account = self.svm.get_account(mint)
        assert account is not None
        return Mint.from_bytes(account.data).decimals


def _token_balances(
    snapshot: list[tuple[int, tuple[Pubkey, Pubkey, int, int] | None]],
) -> list[UiTransactionTokenBalance]:
    balances = []
    for index, (_, token) in enumerate(snapshot):
        if token is None:
            continue
        mint, owner, amount, decimals = token
        ui_amount = UiTokenAmount(
            ui_amount=None, decimals=decimals, amount=str(amount), ui_amount_string=str(amount / 10**decimals)
        )
        balances.append(UiTransactionTokenBalance(index, mint, ui_amount, owner, TOKEN_PROGRAM_ID))
    return balances
