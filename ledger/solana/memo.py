"""Memo text: what a payment says it is for, and reading it back from a transaction's program logs.

The SPL Memo program logs the memo it was given, so the logs of the confirmed transaction are the
chain's own record of it; only lines logged while the memo program itself is running count, so
another program cannot forge a memo line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from spl.memo.constants import MEMO_PROGRAM_ID

from djmesh.ledger.solana.errors import InvalidPaymentError

MAX_MEMO_BYTES = 256
_MEMO_PROGRAM = str(MEMO_PROGRAM_ID)
_INVOKE = re.compile(r"^Program (\w+) invoke \[\d+\]$")
_EXIT = re.compile(r"^Program (\w+) (success|failed: .*)$")
_LENGTH = re.compile(r"^Program log: Memo \(len (\d+)\)$")
_LENGTH_AND_TEXT = re.compile(r'^Program log: Memo \(len (\d+)\): "(.*)"$', re.DOTALL)
_LOG_PREFIX = "Program log: "


def battle_memo(battle_id: bytes | str) -> str:
    """``djmesh battle <hex id>`` for a prize paid to a battle's winner."""
    hex_id = battle_id.hex() if isinstance(battle_id, bytes) else battle_id
    if not hex_id or not re.fullmatch(r"[0-9a-f]+", hex_id):
        raise InvalidPaymentError(f"battle id must be bytes or lowercase hex, not {battle_id!r}")
    return check_memo(f"djmesh battle {hex_id}")


def voucher_memo(channel: str, amount: int) -> str:
    """``djmesh voucher <channel>:<amount>`` for settling a listener's voucher."""
    if not channel or any(c.isspace() or c == ":" for c in channel):
        raise InvalidPaymentError(f"voucher channel must be a non-empty word without ':', not {channel!r}")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise InvalidPaymentError(f"voucher amount must be a non-negative integer, not {amount!r}")
    return check_memo(f"djmesh voucher {channel}:{amount}")


def check_memo(memo: str) -> str:
    """Memos are printable UTF-8 of at most 256 bytes, so they fit a transaction and read back unchanged."""
    if not isinstance(memo, str) or not memo:
        raise InvalidPaymentError("a payment needs a memo naming the battle or voucher")
    if not memo.isprintable():
        raise InvalidPaymentError(f"memo {memo!r} contains control characters")
    if len(memo.encode("utf-8")) > MAX_MEMO_BYTES:
        raise InvalidPaymentError(f"memo is longer than {MAX_MEMO_BYTES} bytes")
    return memo


def memos_from_logs(logs: Sequence[str]) -> list[str]:
    """Every memo the Memo program logged, in order."""
    memos: list[str] = []
    running: list[str] = []
    pending_length: int | None = None
    for line in logs:
        if invoke := _INVOKE.match(line):
            running.append(invoke.group(1))
            continue
        if (exit_ := _EXIT.match(line)) and running and running[-1] == exit_.group(1):
            running.pop()
            pending_length = None
            continue
        if not running or running[-1] != _MEMO_PROGRAM:
            continue
        if pending_length is not None and line.startswith(_LOG_PREFIX):
            text = line[len(_LOG_PREFIX) :]
            if len(text.encode("utf-8")) == pending_length:
                memos.append(text)
            pending_length = None
        elif length := _LENGTH.match(line):
            pending_length = int(length.group(1))
        elif both := _LENGTH_AND_TEXT.match(line):
            text = both.group(2).replace('\\"', '"').replace("\\\\", "\\")
            if len(text.encode("utf-8")) == int(both.group(1)):
                memos.append(text)
    return memos
