"""A committee member's attestation of a battle result, for BattleEscrow's payout.

The member checks the result bundle offline first (protocol/consensus.verify_result: signatures,
committee, quorum, medians), then signs Result(battleId, winner, resultHash) with its EVM key, where
``winner`` is the escrow's address for the winning side and ``resultHash`` the canonical result hash
(``consensus.Result.result_hash``: over what the result says, not the bundle's bytes, so every bundle
of one result has it and grinding a bundle's content ID changes nothing; `djmesh verify` prints it).
The chain only counts these signatures; checking the bundle is the members' job.
"""

from __future__ import annotations

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
    return sign_result(private_key, domain, battle.battle_id, winner, result.result_hash)
