"""Listen-proof generation with the snarkjs command (npm) on node.

snarkjs (GPL-3.0) runs as a separate program through its command line, never imported or bundled. It was the
fastest licence-clean option measured here (see README.md); a pure-Python prover would take tens of seconds.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from djmesh.ledger.errors import LedgerError
from djmesh.ledger.toolchain import find_node, find_node_modules
from djmesh.ledger.zk.groth16 import Proof
from djmesh.ledger.zk.identity import Identity
from djmesh.ledger.zk.merkle import MerkleTree
from djmesh.ledger.zk.params import PUBLIC_INPUTS, WASM_PATH, ZKEY_PATH

TIMEOUT_S = 120.0


class ProvingError(LedgerError):
    """The inputs do not satisfy the circuit (wrong root, identity not in the tree...) or snarkjs failed."""


@dataclass(frozen=True)
class ListenProof:
    root: int
    nullifier: int
    scope: int
    signal_hash: int
    proof: Proof

    @property
    def public_inputs(self) -> list[int]:
        return [self.root, self.nullifier, self.scope, self.signal_hash]


def circuit_input(identity: Identity, tree: MerkleTree, scope: int, signal_hash: int) -> dict[str, Any]:
    try:
        index = tree.index_of(identity.commitment)
    except ValueError:
        raise ProvingError("this identity's commitment is not in the tree") from None
    path = tree.path(index)
    return {
        "root": str(tree.root),
        "nullifier": str(identity.nullifier(scope)),
        "scope": str(scope),
        "signalHash": str(signal_hash),
        "nullifierKey": str(identity.nullifier_key),
        "trapdoor": str(identity.trapdoor),
        "pathElements": [str(s) for s in path.siblings],
        "pathIndices": [str(f) for f in path.right_flags],
    }


def _snarkjs(args: Sequence[str], work: Path) -> None:
    cli = find_node_modules() / "snarkjs" / "build" / "cli.cjs"
    try:
        done = subprocess.run(
            [find_node(), str(cli), *args], cwd=work, capture_output=True, text=True, timeout=TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        raise ProvingError(f"snarkjs {args[0]} took over {TIMEOUT_S:.0f} s") from None
    if done.returncode != 0:
        lines = (done.stderr.strip() or done.stdout.strip() or str(done.returncode)).splitlines()
        raise ProvingError(f"snarkjs {' '.join(args[:2])} failed: {lines[0]}")


def check_witness(circuit_inputs: dict[str, Any]) -> int:
    """Run only the witness generator; raises ProvingError when the inputs break a constraint.

    Returns the witness file's size in bytes."""
    with tempfile.TemporaryDirectory(prefix="djmesh-zk-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps(circuit_inputs), encoding="utf-8")
        _snarkjs(["wtns", "calculate", str(WASM_PATH), "input.json", "witness.wtns"], work)
        return (work / "witness.wtns").stat().st_size


def _full_prove(circuit_inputs: dict[str, Any], zkey: Path) -> tuple[dict[str, Any], list[int]]:
    # The secrets pass through input.json in a private (0700) temporary folder deleted right after.
    with tempfile.TemporaryDirectory(prefix="djmesh-zk-") as tmp:
        work = Path(tmp)
        (work / "input.json").write_text(json.dumps(circuit_inputs), encoding="utf-8")
        args = ["groth16", "fullprove", "input.json", str(WASM_PATH), str(zkey), "proof.json", "public.json"]
        _snarkjs(args, work)
        proof: dict[str, Any] = json.loads((work / "proof.json").read_text(encoding="utf-8"))
        public = [int(value) for value in json.loads((work / "public.json").read_text(encoding="utf-8"))]
    return proof, public


def prove(
    identity: Identity, tree: MerkleTree, scope: int, signal_hash: int, zkey: Path = ZKEY_PATH
) -> ListenProof:
    inputs = circuit_input(identity, tree, scope, signal_hash)
    snark_proof, public = _full_prove(inputs, zkey)
    expected = [int(inputs[name]) for name in PUBLIC_INPUTS]
    if public != expected:
        raise ProvingError(f"snarkjs returned public signals {public}, expected {expected}")
    root, nullifier, scope_value, signal_value = expected
    return ListenProof(root, nullifier, scope_value, signal_value, Proof.from_snarkjs(snark_proof))
