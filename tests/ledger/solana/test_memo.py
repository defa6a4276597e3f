"""Memos are read from the Memo program's own log lines, not from whatever another program prints."""

from __future__ import annotations

import pytest

from djmesh.ledger.solana import InvalidPaymentError, battle_memo, memos_from_logs, voucher_memo

MEMO = "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr"
OTHER = "Evi1111111111111111111111111111111111111111"


def test_memo_names_the_battle_or_voucher() -> None:
    assert battle_memo(b"\x01\xab") == "djmesh battle 01ab"
    assert battle_memo("01ab") == "djmesh battle 01ab"
    assert voucher_memo("chan-3", 250) == "djmesh voucher chan-3:250"
    for bad in ("", "XYZ", "01 ab"):
        with pytest.raises(InvalidPaymentError):
            battle_memo(bad)
    with pytest.raises(InvalidPaymentError):
        voucher_memo("a:b", 1)
    with pytest.raises(InvalidPaymentError):
        voucher_memo("c", -1)


def test_memo_logs_of_the_memo_program_are_read() -> None:
    logs = [
        "Program 11111111111111111111111111111111 invoke [1]",
        "Program 11111111111111111111111111111111 success",
        f"Program {MEMO} invoke [1]",
        "Program log: Signed by: 4vQ6NtMr6uoGeh9Pa3iS8siyoHQ9vvDqStZSj3NWpB4Z",
        "Program log: Memo (len 21)",
        "Program log: djmesh battle 5eed é",
        f"Program {MEMO} consumed 513 of 202850 compute units",
        f"Program {MEMO} success",
    ]
    assert memos_from_logs(logs) == ["djmesh battle 5eed é"]


def test_older_memo_program_log_format_is_read() -> None:
    logs = [
        f"Program {MEMO} invoke [1]",
        'Program log: Memo (len 10): "say \\"hi\\" x"',
        f"Program {MEMO} success",
    ]
    assert memos_from_logs(logs) == ['say "hi" x']


def test_memo_lines_printed_by_another_program_are_ignored() -> None:
    logs = [
        f"Program {OTHER} invoke [1]",
        "Program log: Memo (len 4)",
        "Program log: fake",
        f"Program {OTHER} success",
        f"Program {MEMO} invoke [1]",
        "Program log: Memo (len 3)",
        "Program log: too long",  # length does not match: not a memo
        f"Program {MEMO} success",
    ]
    assert memos_from_logs(logs) == []
