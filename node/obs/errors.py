"""Errors of the OBS bridge, each one line a user can act on."""

from __future__ import annotations

from djmesh.node.errors import NodeError


class ObsError(NodeError):
    """OBS is unreachable, refused a request, or the scene mapping is wrong."""


class ObsAuthError(ObsError):
    """OBS wants a password we do not have, or refused the one we sent."""
