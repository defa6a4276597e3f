"""The instructions of each djmesh payment and the signed transaction that carries them.

Both backends (in-process LiteSVM and a JSON-RPC cluster) send exactly what this module builds,
so what the tests run is what a real cluster receives.
"""

from __future__ import annotations

from collections.abc import Sequence

from solders.hash import Hash
from solders.instruction import Instruction
from solders.keypair import Keypair
from solders.pubkey import Pubkey
from solders.system_program import CreateAccountParams, TransferParams, create_account, transfer
from solders.transaction import Transaction
from spl.memo.constants import MEMO_PROGRAM_ID
from spl.memo.instructions import create_memo
from spl.memo.models import MemoParams
from spl.token.constants import TOKEN_PROGRAM_ID
from spl.token.instructions import (
    create_idempotent_associated_token_account,
    get_associated_token_address,
    initialize_mint2,
    mint_to_checked,
    transfer_checked,
)
from spl.token.models import InitializeMint2Params, MintToCheckedParams, TransferCheckedParams

from djmesh.ledger.solana.errors import InvalidPaymentError
from djmesh.ledger.solana.memo import check_memo

MINT_ACCOUNT_SIZE = 82
MAX_U64 = 2**64 - 1


def check_amount(amount: int, *, what: str) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise InvalidPaymentError(f"{what} must be an integer, not {type(amount).__name__}")
    if not 0 < amount <= MAX_U64:
        raise InvalidPaymentError(f"{what} must be between 1 and {MAX_U64}, not {amount}")
    return amount


def check_decimals(decimals: int) -> int:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 255:
        raise InvalidPaymentError(f"decimals must be an integer from 0 to 255, not {decimals!r}")
    return decimals


def token_account(owner: Pubkey, mint: Pubkey) -> Pubkey:
    """The owner's associated token account for ``mint``: where SPL payments to them land."""
    return get_associated_token_address(owner, mint, TOKEN_PROGRAM_ID)


def memo_instruction(signer: Pubkey, memo: str) -> Instruction:
    return create_memo(
        MemoParams(program_id=MEMO_PROGRAM_ID, signer=signer, message=check_memo(memo).encode("utf-8"))
    )


def sol_payment(payer: Pubkey, to: Pubkey, lamports: int, memo: str) -> list[Instruction]:
    check_amount(lamports, what="lamports")
    return [
        transfer(TransferParams(from_pubkey=payer, to_pubkey=to, lamports=lamports)),
        memo_instruction(payer, memo),
    ]


def token_payment(
    payer: Pubkey,
    mint: Pubkey,
    to_owner: Pubkey,
    amount: int,
    decimals: int,
    memo: str,
    *,
    open_account: bool = True,
) -> list[Instruction]:
    """transfer_checked to the owner's associated token account, first creating it when ``open_account``.

    The creation is idempotent (so a race with another payer is harmless) and the payer funds its
    rent; callers that see the account already exists skip it, saving ~4,400 compute units.
    """
    check_amount(amount, what="amount")
    check_decimals(decimals)
    opening = [create_idempotent_associated_token_account(payer, to_owner, mint, TOKEN_PROGRAM_ID)]
    return [
        *(opening if open_account else []),
        transfer_checked(
            TransferCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                source=token_account(payer, mint),
                mint=mint,
                dest=token_account(to_owner, mint),
                owner=payer,
                amount=amount,
                decimals=decimals,
            )
        ),
        memo_instruction(payer, memo),
    ]


def create_mint(payer: Pubkey, mint: Pubkey, decimals: int, rent_lamports: int) -> list[Instruction]:
    """A new SPL mint whose mint authority is the payer (no freeze authority)."""
    check_decimals(decimals)
    return [
        create_account(
            CreateAccountParams(
                from_pubkey=payer,
                to_pubkey=mint,
                lamports=rent_lamports,
                space=MINT_ACCOUNT_SIZE,
                owner=TOKEN_PROGRAM_ID,
            )
        ),
        initialize_mint2(
            InitializeMint2Params(
                program_id=TOKEN_PROGRAM_ID, mint=mint, decimals=decimals, mint_authority=payer
            )
        ),
    ]


def mint_tokens(
    authority: Pubkey, mint: Pubkey, owner: Pubkey, amount: int, decimals: int
) -> list[Instruction]:
    check_amount(amount, what="amount")
    return [
        create_idempotent_associated_token_account(authority, owner, mint, TOKEN_PROGRAM_ID),
        mint_to_checked(
            MintToCheckedParams(
                program_id=TOKEN_PROGRAM_ID,
                mint=mint,
                dest=token_account(owner, mint),
                mint_authority=authority,
                amount=amount,
                decimals=check_decimals(decimals),
            )
        ),
    ]


def sign(
    instructions: Sequence[Instruction],
    payer: Keypair,
    blockhash: Hash,
    *,
    co_signers: Sequence[Keypair] = (),
) -> Transaction:
    """A legacy transaction paid and signed by ``payer`` (plus any new accounts it creates)."""
    return Transaction.new_signed_with_payer(
        list(instructions), payer.pubkey(), [payer, *co_signers], blockhash
    )
