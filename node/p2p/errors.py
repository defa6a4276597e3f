"""The one exception the transport layer raises to the node."""

from __future__ import annotations


class P2PError(Exception):
    """A network operation failed; the message says what and with which peer or address."""
