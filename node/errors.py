"""Errors the node's public API raises; each message is meant for the user as it stands."""

from __future__ import annotations


class NodeError(Exception):
    """A request the node cannot carry out."""


class ControlError(NodeError):
    """The running node refused or could not carry out a control request."""


class NodeNotRunningError(ControlError):
    """No node answers at that home."""
