"""Listen proofs need node and snarkjs from npm (`npm ci`, done by scripts/setup)."""

from __future__ import annotations

import pytest

from djmesh.ledger.toolchain import ToolchainError, find_node, find_node_modules


def require_zk_toolchain() -> None:
    """Skip, naming what is missing, where proofs cannot be made: a ZK test would show nothing."""
    try:
        find_node()
        find_node_modules()
    except ToolchainError as exc:
        pytest.skip(str(exc))
