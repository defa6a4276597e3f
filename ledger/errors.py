"""The root of every ledger failure, so callers can catch one type whatever the chain."""

from __future__ import annotations


class LedgerError(Exception):
    """A payment or chain read failed; the message says why in one line."""
