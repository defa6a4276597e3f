"""Where the npm tools (snarkjs, circom2) live: they are build/dev tools installed by `npm ci`, never bundled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from djmesh.ledger.errors import LedgerError


class ZkToolchainError(LedgerError):
    """node or the npm packages are not installed; proving needs them (verifying does not)."""


def find_node_modules() -> Path:
    """`DJMESH_NODE_MODULES`, else the nearest `node_modules` with snarkjs above this package or the cwd."""
    configured = os.environ.get("DJMESH_NODE_MODULES")
    if configured:
        path = Path(configured)
        if (path / "snarkjs").is_dir():
            return path
        raise ZkToolchainError(f"DJMESH_NODE_MODULES={configured} holds no snarkjs")
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "node_modules"
            if (candidate / "snarkjs").is_dir():
                return candidate
    raise ZkToolchainError(
        "snarkjs not found: run `npm ci` in the djmesh checkout or set DJMESH_NODE_MODULES"
    )


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ZkToolchainError("node is not on PATH; listen proofs are generated with snarkjs on node")
    return node
