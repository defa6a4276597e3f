"""Scope and signal hash as ListenGate computes them, so a listener can build the proof before sending it.

scope       = keccak256(abi.encode(chain_id, gate, battle, action)) >> 8
signal_hash = keccak256(abi.encode(payload, relayer)) >> 8   (payload: vote choice, or reward recipient)
The shift keeps both below the BN254 scalar field.
"""

from __future__ import annotations

from enum import IntEnum

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak


class Action(IntEnum):
    VOTE = 1
    CLAIM = 2


def scope(chain_id: int, gate: str, battle_id: bytes, action: Action) -> int:
    if len(battle_id) != 32:
        raise ValueError("battle_id must be 32 bytes")
    data = encode(
        ["uint256", "address", "bytes32", "uint256"],
        [chain_id, to_checksum_address(gate), battle_id, int(action)],
    )
    return int.from_bytes(keccak(data), "big") >> 8


def vote_signal(choice: int, relayer: str) -> int:
    data = encode(["uint256", "address"], [choice, to_checksum_address(relayer)])
    return int.from_bytes(keccak(data), "big") >> 8


def claim_signal(recipient: str, relayer: str) -> int:
    data = encode(["address", "address"], [to_checksum_address(recipient), to_checksum_address(relayer)])
    return int.from_bytes(keccak(data), "big") >> 8
