"""Client for BattleEscrow: open a battle's prize pool, stake, bond seats, fix the committee, pay out or refund.

Battle IDs are the protocol's (the SHA-256 content ID of the battle_announce). DJ A (the challenger)
opens (with the seat bond it asks); candidates post the bond; DJ B and sponsors stake; both DJs agree on
the committee's EVM addresses (each bonded); anyone submits the payout with 2f+1 committee attestations
(attest.py), which burns the bonds of the members the result names as forfeiting; anyone reports two
different attestations of one member (``report_equivocation``). After the deadline only refunds and
bond releases remain.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from web3.types import TxReceipt

from djmesh.ledger.evm.chain import EvmChain
from djmesh.ledger.evm.deploy import ESCROW, bind
from djmesh.ledger.evm.eip712 import Domain, Signature, address_word, recover_signer, sign_digest
from djmesh.ledger.evm.errors import LedgerError
from djmesh.ledger.evm.sender import TxSender

RESULT_TYPEHASH = keccak(b"Result(bytes32 battleId,address winner,bytes32 resultHash,address[] forfeits)")
RESULT_TYPES = {
    "Result": [
        {"name": "battleId", "type": "bytes32"},
        {"name": "winner", "type": "address"},
        {"name": "resultHash", "type": "bytes32"},
        {"name": "forfeits", "type": "address[]"},
    ]
}


COMMITTEE_FIX_GAS = 60_000


def escrow_domain(chain_id: int, contract: str) -> Domain:
    return Domain("djmesh BattleEscrow", "1", chain_id, to_checksum_address(contract))


def addresses_hash(addresses: Iterable[str]) -> bytes:
    """EIP-712 hash of an ``address[]``: keccak256 of the 32-byte words."""
    return keccak(b"".join(address_word(a) for a in addresses))


def result_digest(
    domain: Domain, battle_id: bytes, winner: str, result_hash: bytes, forfeits: Sequence[str] = ()
) -> bytes:
    """What a member signs: Result(battleId, winner, resultHash, forfeits) (forfeits ascending)."""
    _check32(battle_id, "battle ID")
    _check32(result_hash, "result hash")
    struct = RESULT_TYPEHASH + battle_id + address_word(winner) + result_hash + addresses_hash(forfeits)
    return domain.digest(keccak(struct))


def quorum(committee_size: int) -> int:
    """2f+1 of 3f+1, as protocol/consensus.py and the contract compute it."""
    return 2 * ((committee_size - 1) // 3) + 1


@dataclass(frozen=True)
class Attestation:
    """One committee member's signature over Result(battleId, winner, resultHash, forfeits)."""

    signer: str
    battle_id: bytes
    winner: str
    result_hash: bytes
    signature: Signature
    forfeits: tuple[str, ...] = ()  # members whose seat bonds the result burns, canonical order

    def claim(self) -> tuple[str, bytes, bytes, tuple[int, bytes, bytes]]:
        """As ``report_equivocation`` takes it: (winner, resultHash, forfeits hash, signature)."""
        return (self.winner, self.result_hash, addresses_hash(self.forfeits), self.signature.as_abi())


def sign_result(
    private_key: bytes,
    domain: Domain,
    battle_id: bytes,
    winner: str,
    result_hash: bytes,
    forfeits: Iterable[str] = (),
) -> Attestation:
    members = tuple(committee_order(forfeits))
    digest = result_digest(domain, battle_id, winner, result_hash, members)
    signature = sign_digest(private_key, digest)
    signer = recover_signer(digest, signature)
    assert signer is not None
    return Attestation(signer, battle_id, to_checksum_address(winner), result_hash, signature, members)


def equivocation(first: Attestation, second: Attestation) -> bool:
    """Whether two attestations are one member's two different statements about one battle."""
    return (
        first.signer == second.signer
        and first.battle_id == second.battle_id
        and (first.winner, first.result_hash, first.forfeits)
        != (second.winner, second.result_hash, second.forfeits)
    )


@dataclass(frozen=True)
class EscrowBattle:
    battle_id: bytes
    dj_a: str
    dj_b: str
    deadline: int
    pot: int
    committee_hash: bytes
    committee_size: int
    settled: bool
    seat_bond: int = 0

    def winner_address(self, side: str) -> str:
        """The EVM address of the protocol's side "a" (the challenger, who opened) or "b"."""
        if side not in ("a", "b"):
            raise ValueError(f"side must be 'a' or 'b', got {side!r}")
        return self.dj_a if side == "a" else self.dj_b


def committee_order(committee: Iterable[str]) -> list[str]:
    """The canonical committee list: distinct checksummed addresses in ascending numeric order."""
    members = {to_checksum_address(m) for m in committee}
    return sorted(members, key=lambda m: int(m, 16))


def committee_hash(committee: Iterable[str]) -> bytes:
    """keccak256(abi_encode(address[])) of the canonical list, as the contract stores it."""
    members = committee_order(committee)
    encoded = (32).to_bytes(32, "big") + len(members).to_bytes(32, "big")
    return keccak(encoded + b"".join(address_word(m) for m in members))


class Escrow:
    def __init__(self, chain: EvmChain, address: str, sender: TxSender | None = None) -> None:
        self.chain = chain
        self.contract = bind(chain, ESCROW, address)
        self.address: str = self.contract.address
        self.sender = sender
        self.domain = escrow_domain(chain.chain_id, self.address)

    def _send(self) -> TxSender:
        if self.sender is None:
            raise LedgerError("this escrow client is read-only (no wallet unlocked)")
        return self.sender

    # ---- transactions ----------------------------------------------------------------------------

    def open(
        self, battle_id: bytes, opponent: str, deadline: int, stake: int = 0, seat_bond: int = 0
    ) -> TxReceipt:
        """Open as DJ A with ``stake``; every committee member must post ``seat_bond`` wei (0: none)."""
        _check32(battle_id, "battle ID")
        if seat_bond < 0:
            raise ValueError("the seat bond cannot be negative")
        call = self.contract.functions.open(battle_id, to_checksum_address(opponent), deadline, seat_bond)
        return self._send().transact(call, value=stake)

    def post_bond(self, battle_id: bytes, amount: int) -> TxReceipt:
        """Post the battle's seat bond (``amount`` must be exactly it) as a committee candidate."""
        return self._send().transact(self.contract.functions.post_bond(battle_id), value=amount)

    def release_bond(self, battle_id: bytes, committee: Iterable[str] = ()) -> TxReceipt:
        """Take our seat bond back: at the deadline, or before it when not on the fixed ``committee``."""
        call = self.contract.functions.release_bond(battle_id, committee_order(committee))
        return self._send().transact(call)

    def report_equivocation(self, first: Attestation, second: Attestation) -> TxReceipt:
        """Burn the seat bond of a member who signed two different results for one battle."""
        if not equivocation(first, second):
            raise ValueError("not two different attestations by one member for one battle")
        call = self.contract.functions.report_equivocation(
            first.battle_id, first.signer, first.claim(), second.claim()
        )
        return self._send().transact(call)

    def stake(self, battle_id: bytes, amount: int) -> TxReceipt:
        return self._send().transact(self.contract.functions.stake(battle_id), value=amount)

    def agree_committee(self, battle_id: bytes, committee: Iterable[str]) -> TxReceipt:
        call = self.contract.functions.agree_committee(battle_id, committee_order(committee))
        # Both DJs propose at about the same time; whichever lands second also fixes the committee
        # (two more storage writes), which the first one's estimate did not include.
        return self._send().transact(call, extra_gas=COMMITTEE_FIX_GAS)

    def payout(
        self, battle_id: bytes, winner: str, result_hash: bytes, committee: Iterable[str],
        attestations: Iterable[Attestation],
    ) -> TxReceipt:  # fmt: skip
        """Submit the payout with the attestations (ordered and de-duplicated here); the forfeits are
        those of the first matching attestation, and only attestations naming the same ones count."""
        by_signer: dict[str, Attestation] = {}
        forfeits: tuple[str, ...] | None = None
        for a in attestations:
            if (
                a.battle_id == battle_id
                and a.result_hash == result_hash
                and a.winner == to_checksum_address(winner)
                and a.forfeits == (a.forfeits if forfeits is None else forfeits)
            ):
                forfeits = a.forfeits
                by_signer.setdefault(a.signer, a)
        ordered = [by_signer[s].signature.as_abi() for s in sorted(by_signer, key=lambda s: int(s, 16))]
        call = self.contract.functions.payout(
            battle_id,
            to_checksum_address(winner),
            result_hash,
            list(forfeits or ()),
            committee_order(committee),
            ordered,
        )
        return self._send().transact(call)

    def refund(self, battle_id: bytes) -> TxReceipt:
        return self._send().transact(self.contract.functions.refund(battle_id))

    def withdraw(self) -> TxReceipt:
        return self._send().transact(self.contract.functions.withdraw())

    # ---- reads -----------------------------------------------------------------------------------

    def battle(self, battle_id: bytes) -> EscrowBattle | None:
        row = self.contract.functions.battles(battle_id).call()
        dj_a, dj_b, deadline, pot, committee_hash, size, settled, seat_bond = row
        if int(dj_a, 16) == 0:
            return None
        return EscrowBattle(
            battle_id, dj_a, dj_b, deadline, pot, bytes(committee_hash), size, settled, seat_bond
        )

    def bond_of(self, battle_id: bytes, member: str) -> int:
        """The seat bond ``member`` holds in the battle (0: none posted, released or burned)."""
        return int(self.contract.functions.bonds(battle_id, to_checksum_address(member)).call())

    def burned(self) -> int:
        return int(self.contract.functions.burned().call())

    def stake_of(self, battle_id: bytes, staker: str) -> int:
        return int(self.contract.functions.stakes(battle_id, to_checksum_address(staker)).call())

    def owed(self, account: str) -> int:
        return int(self.contract.functions.owed(to_checksum_address(account)).call())

    def battles_staked_by(self, staker: str, *, from_block: int = 0) -> list[bytes]:
        logs = self.contract.events.Staked.get_logs(
            argument_filters={"staker": to_checksum_address(staker)}, from_block=from_block
        )
        return list(dict.fromkeys(bytes(log["args"]["battle_id"]) for log in logs))

    def committee_hash(self, committee: Sequence[str]) -> bytes:
        """keccak256(abi_encode(address[])) of the canonical list, as the contract stores it."""
        return committee_hash(committee)


def _check32(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != 32:
        raise ValueError(f"{what} must be 32 bytes")
