"""A committee member's attestation of a battle result, for BattleEscrow's payout.

The member checks the result bundle offline first (protocol/consensus.verify_result: signatures,
committee, quorum, medians), then signs Result(battleId, winner, resultHash) with its EVM key, where
``winner`` is the escrow's address for the winning side and ``resultHash`` the bundle's SHA-256
(its content ID, so anyone can fetch the bundle behind a payout and check it with `djmesh verify`).
The chain only counts these signatures; checking the bundle is the members' job.
"""

from __future__ import annotations

import hashlib

from djmesh.ledger.evm.eip712 import Domain
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.escrow import Attestation, EscrowBattle, sign_result
from djmesh.protocol.consensus import verify_result
from djmesh.protocol.errors import ProtocolError


def attest_bundle(private_key: bytes, domain: Domain, battle: EscrowBattle, bundle: bytes) -> Attestation:
    """Verify ``bundle`` (a signed battle_result) and sign the payout it justifies."""
    try:
        result = verify_result(bundle)
    except ProtocolError as exc:
        raise LedgerError(f"will not attest an invalid result: {exc}") from exc
    if result.battle_id != battle.battle_id:
        raise LedgerError("the result is for another battle than this escrow entry")
    winner = battle.winner_address(result.winner)
    return sign_result(private_key, domain, battle.battle_id, winner, hashlib.sha256(bundle).digest())
