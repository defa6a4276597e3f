"""Compiled contracts: Vyper sources in `contracts/`, their ABI and bytecode checked in under `contracts/build/`.

Nodes load the checked-in artifacts, so running a node needs no compiler. `python -m djmesh.ledger.artifacts`
rebuilds them with the pinned Vyper (dev dependency); tests rebuild and compare, so the artifacts stay
reproducible from source.
"""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACTS_DIR = Path(__file__).resolve().parent / "contracts"
BUILD_DIR = CONTRACTS_DIR / "build"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: bytes
    source_sha256: str
    compiler: str


def source_names() -> list[str]:
    return sorted(path.stem for path in CONTRACTS_DIR.glob("*.vy"))


def compile_contract(name: str) -> dict[str, Any]:
    """Compile one contract from source; needs `vyper` (a dev dependency)."""
    import vyper  # type: ignore[import-untyped]

    source = (CONTRACTS_DIR / f"{name}.vy").read_text(encoding="utf-8")
    out = vyper.compile_code(source, output_formats=["abi", "bytecode"])
    return {
        "name": name,
        "compiler": f"vyper {vyper.__version__}",
        "source_sha256": hashlib.sha256(source.encode()).hexdigest(),
        "abi": out["abi"],
        "bytecode": out["bytecode"],
    }


def build_all() -> list[Path]:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name in source_names():
        path = BUILD_DIR / f"{name}.json"
        path.write_text(json.dumps(compile_contract(name), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


def load_artifact(name: str) -> Artifact:
    path = BUILD_DIR / f"{name}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LookupError(f"no compiled contract {name!r} at {path}") from None
    return Artifact(
        name=data["name"],
        abi=data["abi"],
        bytecode=bytes.fromhex(data["bytecode"].removeprefix("0x")),
        source_sha256=data["source_sha256"],
        compiler=data["compiler"],
    )


if __name__ == "__main__":
    for written in build_all():
        print(written, file=sys.stderr)
