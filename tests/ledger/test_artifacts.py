"""The checked-in contract artifacts are exactly what the pinned Vyper makes of the sources."""

from __future__ import annotations

import json

import pytest

from djmesh.ledger.artifacts import BUILD_DIR, compile_contract, load_artifact, source_names


@pytest.mark.parametrize("name", source_names())
def test_artifact_is_reproducible_from_source(name: str) -> None:
    checked_in = (BUILD_DIR / f"{name}.json").read_bytes()
    rebuilt = (json.dumps(compile_contract(name), indent=1, sort_keys=True) + "\n").encode()
    assert rebuilt == checked_in, f"{name}: run `python -m djmesh.ledger.artifacts` and commit the result"


def test_the_evm_contracts_are_there() -> None:
    for name in ("BattleEscrow", "ListenChannel"):
        artifact = load_artifact(name)
        assert artifact.bytecode and artifact.compiler.startswith("vyper ")
        assert {item.get("name") for item in artifact.abi} >= {"withdraw", "DOMAIN_SEPARATOR"}
