"""The one exception the transport layer raises to the node."""

from __future__ import annotations

from djmesh.node.errors import NodeError


class P2PError(NodeError):
    """A network operation failed; the message says what and with which peer or address.

    A ``NodeError``, so the CLI reports it as one line like every other user-facing failure.
    """
