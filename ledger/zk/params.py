"""Fixed shape of the listen proof, shared by the circuit, the contract and the Python side."""

from __future__ import annotations

from pathlib import Path

ZK_DIR = Path(__file__).resolve().parent
CIRCUITS_DIR = ZK_DIR / "circuits"
ARTIFACTS_DIR = ZK_DIR / "artifacts"

CIRCUIT_NAME = "listen"
WASM_PATH = ARTIFACTS_DIR / "listen.wasm"
ZKEY_PATH = ARTIFACTS_DIR / "listen_test.zkey"
VERIFICATION_KEY_PATH = ARTIFACTS_DIR / "listen_test_vkey.json"
POSEIDON_EVM_PATH = ARTIFACTS_DIR / "poseidon_t3_evm.json"
BUILD_INFO_PATH = ARTIFACTS_DIR / "build_info.json"

# 2**16 = 65,536 paid listen units per battle. Each registration hashes one path on-chain (TREE_DEPTH Poseidon
# calls), so depth is paid in registration gas; it also bounds the anonymity set. See README.md.
TREE_DEPTH = 16
# Public inputs in circuit order.
PUBLIC_INPUTS = ("root", "nullifier", "scope", "signalHash")
