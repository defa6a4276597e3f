"""Paying DJs from the node's own wallet, in SOL or an SPL token, straight to their wallet.

No server holds the money: the node signs a transfer from its key to the DJ's address, with a memo
naming the battle or voucher. Each `Payment` reports what the chain recorded (the amount that
arrived, the memo, the fee and compute units) and is checked against what was asked for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from solders.account import Account
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.token.state import Mint, TokenAccount
from spl.token.constants import TOKEN_PROGRAM_ID

from djmesh.ledger.solana import instructions
from djmesh.ledger.solana.addresses import parse_address
from djmesh.ledger.solana.backend import Receipt, SolanaBackend
from djmesh.ledger.solana.errors import (
    InsufficientFundsError,
    InvalidAddressError,
    InvalidPaymentError,
    TransactionRefusedError,
)
from djmesh.ledger.solana.litesvm_backend import TOKEN_ACCOUNT_SIZE
from djmesh.ledger.solana.memo import check_memo

SOL = "SOL"


@dataclass(frozen=True)
class Payment:
    """A confirmed payment, every figure read from the chain's record of it."""

    signature: str
    asset: str  # "SOL", or the mint address of an SPL token
    payer: str
    recipient: str  # the recipient's wallet (for tokens, the owner of the receiving token account)
    amount: int  # lamports or token base units that arrived
    memo: str
    fee: int  # lamports
    compute_units: int

    def to_json(self) -> dict[str, str | int]:
        return {
            "signature": self.signature,
            "asset": self.asset,
            "payer": self.payer,
            "recipient": self.recipient,
            "amount": self.amount,
            "memo": self.memo,
            "fee": self.fee,
            "compute_units": self.compute_units,
        }


class SolanaLedger:
    """The node's wallet on one backend; one instance per wallet."""

    def __init__(self, backend: SolanaBackend, keypair: Keypair) -> None:
        self.backend = backend
        self.keypair = keypair

    @property
    def address(self) -> Pubkey:
        return self.keypair.pubkey()

    async def pay_sol(self, to: str | Pubkey, lamports: int, memo: str) -> Payment:
        recipient = self._recipient(to)
        built = instructions.sol_payment(self.address, recipient, lamports, memo)
        if await self.backend.account(recipient) is None:
            minimum = await self.backend.rent_exempt_minimum(0)
            if lamports < minimum:
                raise InvalidPaymentError(
                    f"recipient {recipient} has no account yet; a first payment must be at least "
                    f"{minimum} lamports (the rent-exempt minimum), not {lamports}"
                )
        receipt = await self._send(built)
        return self._payment(receipt, SOL, recipient, lamports, memo, receipt.lamports_received(recipient))

    async def pay_token(
        self, mint: str | Pubkey, to_owner: str | Pubkey, amount: int, decimals: int, memo: str
    ) -> Payment:
        """transfer_checked to the owner's associated token account, creating it (payer funds rent) if missing."""
        mint_key = parse_address(mint, what="mint")
        recipient = self._recipient(to_owner)
        if await self._token_account(recipient) is not None:
            raise InvalidAddressError(
                f"recipient {recipient} is a token account; pay the wallet that owns it, or the tokens are lost"
            )
        destination = instructions.token_account(recipient, mint_key)
        opened = await self._token_account(destination) is not None
        built = instructions.token_payment(
            self.address, mint_key, recipient, amount, decimals, memo, open_account=not opened
        )
        on_chain = await self._mint(mint_key)
        if on_chain.decimals != decimals:
            raise InvalidPaymentError(f"mint {mint_key} has {on_chain.decimals} decimals, not {decimals}")
        source = await self._token_account(instructions.token_account(self.address, mint_key))
        if source is None:
            raise InsufficientFundsError(f"wallet {self.address} holds no tokens of mint {mint_key}")
        receipt = await self._send(built)
        arrived = receipt.tokens_received(destination)
        return self._payment(receipt, str(mint_key), recipient, amount, memo, arrived)

    async def read_memos(self, signature: str | Signature) -> list[str]:
        """The memos a confirmed transaction carries, from the chain's logs (empty if it is unknown)."""
        if isinstance(signature, str):
            try:
                signature = Signature.from_string(signature)
            except ValueError as exc:
                raise InvalidPaymentError(f"{signature!r} is not a transaction signature") from exc
        receipt = await self.backend.lookup(signature)
        return [] if receipt is None else receipt.memos

    async def chain_report(self, payments: Sequence[Payment]) -> dict[str, Any]:
        """The demo's ``"solana"`` JSON: each payment looked up again by signature, and balances as they are now.

        Memo, fee and compute units come from the chain's record of the transaction; the amounts are
        the recipients' balance changes the chain recorded when it landed.
        """
        entries: list[dict[str, str | int]] = []
        balances: dict[str, dict[str, int]] = {}
        for payment in payments:
            receipt = await self.backend.lookup(Signature.from_string(payment.signature))
            if receipt is None or receipt.error is not None:
                raise TransactionRefusedError(
                    f"{payment.signature} is not a confirmed transaction on {self.backend.name}"
                )
            entry = payment.to_json()
            entry.update(
                memo=receipt.memos[0] if receipt.memos else "",
                fee=receipt.fee,
                compute_units=receipt.compute_units,
            )
            entries.append(entry)
            holder = balances.setdefault(payment.recipient, {})
            holder[payment.asset] = (
                await self.sol_balance(payment.recipient)
                if payment.asset == SOL
                else await self.token_balance(payment.asset, payment.recipient)
            )
        return {
            "backend": self.backend.name,
            "payer": str(self.address),
            "payer_lamports": await self.sol_balance(),
            "signatures": [payment.signature for payment in payments],
            "payments": entries,
            "balances": balances,
        }

    async def sol_balance(self, address: str | Pubkey | None = None) -> int:
        return await self.backend.balance(self._address_or_own(address))

    async def token_balance(self, mint: str | Pubkey, owner: str | Pubkey | None = None) -> int:
        """Base units of ``mint`` in the owner's associated token account (0 when it has none)."""
        account = instructions.token_account(self._address_or_own(owner), parse_address(mint, what="mint"))
        state = await self._token_account(account)
        return 0 if state is None else state.amount

    async def create_mint(self, decimals: int, *, mint: Keypair | None = None) -> Pubkey:
        """A new SPL token whose mint authority is this wallet (tests, demo, or a node's own token)."""
        mint = mint if mint is not None else Keypair()
        rent = await self.backend.rent_exempt_minimum(instructions.MINT_ACCOUNT_SIZE)
        await self._send(
            instructions.create_mint(self.address, mint.pubkey(), decimals, rent), co_signers=[mint]
        )
        return mint.pubkey()

    async def mint_to(self, mint: str | Pubkey, owner: str | Pubkey, amount: int) -> int:
        """Mint to the owner's associated token account (this wallet must be the mint authority); new balance."""
        mint_key = parse_address(mint, what="mint")
        owner_key = parse_address(owner, what="owner")
        decimals = (await self._mint(mint_key)).decimals
        receipt = await self._send(
            instructions.mint_tokens(self.address, mint_key, owner_key, amount, decimals)
        )
        return receipt.token_amounts[instructions.token_account(owner_key, mint_key)][1]

    async def airdrop(self, lamports: int, to: str | Pubkey | None = None) -> int:
        """Free SOL where the backend gives it; the new balance."""
        address = self._address_or_own(to)
        await self.backend.airdrop(address, instructions.check_amount(lamports, what="lamports"))
        return await self.backend.balance(address)

    async def _send(self, built: list[Instruction], *, co_signers: list[Keypair] | None = None) -> Receipt:
        blockhash = await self.backend.latest_blockhash()
        return await self.backend.submit(
            instructions.sign(built, self.keypair, blockhash, co_signers=co_signers or [])
        )

    def _payment(
        self, receipt: Receipt, asset: str, recipient: Pubkey, asked: int, memo: str, arrived: int
    ) -> Payment:
        memos = receipt.memos
        if arrived != asked or memos != [check_memo(memo)]:
            raise TransactionRefusedError(
                f"chain record of {receipt.signature} disagrees with the payment: "
                f"{arrived} arrived (asked {asked}), memos {memos}",
                logs=receipt.logs,
            )
        return Payment(
            signature=str(receipt.signature),
            asset=asset,
            payer=str(self.address),
            recipient=str(recipient),
            amount=arrived,
            memo=memos[0],
            fee=receipt.fee,
            compute_units=receipt.compute_units,
        )

    def _recipient(self, to: str | Pubkey) -> Pubkey:
        recipient = parse_address(to, what="recipient")
        if recipient == self.address:
            raise InvalidPaymentError(f"recipient {recipient} is this wallet; a node cannot pay itself")
        return recipient

    def _address_or_own(self, address: str | Pubkey | None) -> Pubkey:
        return self.address if address is None else parse_address(address)

    async def _mint(self, mint: Pubkey) -> Mint:
        account = await self.backend.account(mint)
        if (
            account is None
            or account.owner != TOKEN_PROGRAM_ID
            or len(account.data) != instructions.MINT_ACCOUNT_SIZE
        ):
            raise InvalidAddressError(f"mint {mint} is not an SPL token mint on {self.backend.name}")
        return Mint.from_bytes(account.data)

    async def _token_account(self, address: Pubkey) -> TokenAccount | None:
        account: Account | None = await self.backend.account(address)
        if account is None or account.owner != TOKEN_PROGRAM_ID or len(account.data) != TOKEN_ACCOUNT_SIZE:
            return None
        return TokenAccount.from_bytes(account.data)
