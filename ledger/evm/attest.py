"""A committee member's attestation of a battle result, for BattleEscrow's payout.

The member checks the result bundle offline first (protocol/consensus.verify_result: signatures,
committee, quorum, medians), then signs Result(battleId, winner, resultHash) with its EVM key, where
``winner`` is the escrow's address for the winning side and ``resultHash`` the canonical result hash
(``consensus.Result.result_hash``: over what the result says, not the bundle's bytes, so every bundle
of one result has it and grinding a bundle's content ID changes nothing; `djmesh verify` prints it).
The chain only counts these signatures; checking the bundle is the members' job.
"""

from __future__ import annotations

from collections.abc import Mapping

from djmesh.ledger.evm.eip712 import Domain
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.escrow import Attestation, EscrowBattle, committee_hash, sign_result
from djmesh.protocol.consensus import Result, forfeiting_members, verify_result
from djmesh.protocol.errors import ProtocolError


def forfeit_addresses(result: Result, member_address: Mapping[bytes, str] | None) -> tuple[str, ...]:
    """The EVM addresses of the members whose offences in ``result`` burn their seat bond."""
    offenders = forfeiting_members(result.offences)
    if not offenders:
        return ()
    if member_address is None or any(m not in member_address for m in offenders):
        raise LedgerError("the result names forfeiting members whose EVM addresses are not known here")
    return tuple(member_address[m] for m in offenders)


def attest_bundle(
    private_key: bytes,
    domain: Domain,
    battle: EscrowBattle,
    bundle: bytes,
    member_address: Mapping[bytes, str] | None = None,
) -> Attestation:
    """Verify ``bundle`` (a signed battle_result) and sign the payout it justifies, naming as forfeits
    the bound addresses (``member_address``: member key -> address) of the members whose offences burn
    their seat bond. Only once both DJs fixed a committee on chain; given ``member_address``, only when
    that committee is the result's (members attest the committee the DJs agreed, nothing else)."""
    try:
        result = verify_result(bundle)
    except ProtocolError as exc:
        raise LedgerError(f"will not attest an invalid result: {exc}") from exc
    if result.battle_id != battle.battle_id:
        raise LedgerError("the result is for another battle than this escrow entry")
    if battle.committee_size == 0:
        raise LedgerError("the DJs have not agreed on a committee on chain")
    if member_address is not None:
        if any(m not in member_address for m in result.committee):
            raise LedgerError("a member of the result's committee has no known EVM address")
        if committee_hash(member_address[m] for m in result.committee) != battle.committee_hash:
            raise LedgerError("the committee the DJs agreed on chain is not the result's")
    winner = battle.winner_address(result.winner)
    forfeits = forfeit_addresses(result, member_address)
    return sign_result(private_key, domain, battle.battle_id, winner, result.result_hash, forfeits)
