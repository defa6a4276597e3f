"""Where the npm tools live (anvil, snarkjs, circom2): installed by `npm ci` from package.json, never bundled.

They run as separate programs. A checkout finds them in its own `node_modules`; an installed djmesh is
pointed at one with `DJMESH_NODE_MODULES`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from djmesh.ledger.errors import LedgerError


class ToolchainError(LedgerError):
    """node or an npm package is not installed (making proofs and running anvil need them; verifying does not)."""


def find_node_modules(package: str = "snarkjs") -> Path:
    """`DJMESH_NODE_MODULES`, else the nearest `node_modules` holding `package` above this package or the cwd."""
    configured = os.environ.get("DJMESH_NODE_MODULES")
    if configured:
        path = Path(configured)
        if (path / package).is_dir():
            return path
        raise ToolchainError(f"DJMESH_NODE_MODULES={configured} holds no {package}")
    for start in (Path(__file__).resolve().parent, Path.cwd().resolve()):
        for folder in (start, *start.parents):
            candidate = folder / "node_modules"
            if (candidate / package).is_dir():
                return candidate
    raise ToolchainError(
        f"{package} not found: run `npm ci` in the djmesh checkout or set DJMESH_NODE_MODULES"
    )


def find_node() -> str:
    node = shutil.which("node")
    if node is None:
        raise ToolchainError("node is not on PATH; listen proofs are generated with snarkjs on node")
    return node


def find_anvil() -> Path | None:
    """The anvil binary from npm (@foundry-rs/anvil-linux-amd64), else one on PATH, else None."""
    try:
        candidate = find_node_modules("@foundry-rs/anvil-linux-amd64") / ".bin" / "anvil"
        if candidate.is_file():
            return candidate
    except ToolchainError:
        pass
    found = shutil.which("anvil")
    return Path(found) if found else None
