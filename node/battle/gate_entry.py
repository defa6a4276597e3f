"""A battle's ListenGate entry, opened by its two DJs' nodes with both signatures, without anyone typing.

The gate takes a battle only with every DJ's EIP-712 signature over its terms (anti-squatting, see
``ledger/contracts/ListenGate.vy``), and a gate deployed with a BattleEscrow only the two DJs the escrow
holds for that battle ID. Both DJs derive the same terms from the announcement (``gate_terms``):

- DJ B's node signs them when it accepts and carries the signature in its ``battle_accept``;
- DJ A's node, once that accept reaches it, signs too and submits ``create_battle`` with both.

The DJs' addresses are the escrow terms' (a battle with a prize), else their wallet bindings; on a gate
with an escrow, a battle without a prize has no escrow entry, so it gets no gate entry (no votes).
Votes are an extra: any failure here is logged and the battle goes on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from web3 import Web3

from djmesh.ledger.evm.eip712 import Signature
from djmesh.node.tasks import BackgroundTasks
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.battle import BattleAccept, BattleAnnounce, Phase, PhaseChanged

if TYPE_CHECKING:
    from djmesh.node.battle.anonymous_votes import AnonymousVotes
    from djmesh.node.battle.escrow import BattleEscrowService
    from djmesh.node.battle.service import BattleService

log = logging.getLogger(__name__)

#: one paid listen unit in the battle's ListenGate entry: the right to one anonymous vote
LISTEN_UNIT_WEI = 10**15
#: the share of each listen unit paid back as the listeners' reward after the battle (`reward claim`)
LISTEN_REWARD_BPS = 2000
#: how long a battle that does not count crowd votes stays open for them after its reveal deadline
#: (when it has no escrow deadline to close with)
VOTES_AFTER_REVEAL_S = 3600


@dataclass(frozen=True)
class GateTerms:
    """What both DJs sign: ``GateBattle(battleId, djs, price, rewardBps, endsAt)``."""

    djs: tuple[str, str]  # DJ A's address, DJ B's (choice 0 is DJ A)
    price_wei: int
    reward_bps: int
    ends_at: int  # chain seconds


def voting_ends_at(spec: BattleAnnounce) -> int:
    """When the gate stops taking votes, as both DJs derive it from the announcement.

    A battle that counts crowd votes closes them with the sets (the judges read a final tally,
    ``node.battle.crowd``); any other keeps them open until its escrow deadline, so a crowd can still
    vote after the result.
    """
    if spec.rules.crowd_weight_permille > 0:
        return spec.sets_end // 1000
    if spec.escrow is not None:
        return spec.escrow.deadline
    return spec.reveal_by // 1000 + VOTES_AFTER_REVEAL_S


def gate_terms(spec: BattleAnnounce, dj_a: str, dj_b: str) -> GateTerms:
    djs = (str(Web3.to_checksum_address(dj_a)), str(Web3.to_checksum_address(dj_b)))
    return GateTerms(djs, LISTEN_UNIT_WEI, LISTEN_REWARD_BPS, voting_ends_at(spec))


class GateEntries:
    """Both DJs' halves of opening a battle's gate entry (see the module docstring)."""

    def __init__(self, battles: BattleService, votes: AnonymousVotes) -> None:
        self.battles = battles
        self.votes = votes
        self.escrow: BattleEscrowService | None = None  # wallet bindings, for battles without a prize
        self._tasks = BackgroundTasks("gate entries")
        self._opening: set[bytes] = set()  # battles whose entry this node (DJ A) is opening now

    async def __aenter__(self) -> GateEntries:
        self.battles.listeners.append(self._on_action)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._on_action in self.battles.listeners:
            self.battles.listeners.remove(self._on_action)
        await self._tasks.cancel_all()

    async def terms(self, spec: BattleAnnounce, djs: dict[str, bytes]) -> GateTerms | None:
        """The battle's gate terms (``djs``: side -> DJ key), or None when this gate cannot take the battle."""
        if spec.escrow is not None:
            return gate_terms(spec, "0x" + spec.escrow.dj_a.hex(), "0x" + spec.escrow.dj_b.hex())
        if await self.votes.escrow_address() is not None:
            return None  # the gate takes only escrowed battles' DJs, and this one has no escrow entry
        if self.escrow is None:
            return None  # no wallet bindings to read the DJs' addresses from
        dj_a = await self.escrow.find_wallet(peer_id_from_public_key(djs["a"]))
        dj_b = await self.escrow.find_wallet(peer_id_from_public_key(djs["b"]))
        return gate_terms(spec, dj_a, dj_b)

    def _sign(self, battle_id: bytes, terms: GateTerms) -> bytes:
        signature = self.votes.sign_battle_terms(
            battle_id,
            terms.djs,
            price_wei=terms.price_wei,
            ends_at=terms.ends_at,
            reward_bps=terms.reward_bps,
        )
        return signature.to_bytes()

    async def sign_for_accept(self, battle_id: bytes) -> bytes:
        """DJ B: its signature over the battle's gate terms for its accept (b"" when there is no entry)."""
        state = self.battles.battles.get(battle_id)
        if state is None:
            return b""
        try:
            # the taker of an open challenge signs as the DJ B it offers to be
            me = self.battles.node.public_key
            terms = await self.terms(state.machine.spec, {"a": state.machine.announce.author, "b": me})
            if terms is None:
                log.info("battle %s: this ListenGate takes no entry for it", battle_id.hex()[:12])
                return b""
            return self._sign(battle_id, terms)
        except Exception as exc:  # votes are an extra: the accept goes out without them
            log.warning("battle %s: cannot sign its gate terms: %s", battle_id.hex()[:12], exc)
            return b""

    def _on_action(self, battle_id: bytes, action: object) -> None:
        if not isinstance(action, PhaseChanged) or action.phase not in (Phase.ACCEPTED, Phase.SETS):
            return
        state = self.battles.battles.get(battle_id)
        if state is None or battle_id in self._opening:
            return
        if state.machine.announce.author != self.battles.node.public_key:
            return  # only DJ A's node submits (DJ B's signature reached it in the accept)
        self._opening.add(battle_id)
        self._tasks.spawn(self._open(battle_id))

    async def _open(self, battle_id: bytes) -> None:
        short = battle_id.hex()[:12]
        try:
            await self.open(battle_id)
        except Exception as exc:  # votes are an extra: the battle goes on without them
            log.warning("battle %s: could not open it in the ListenGate: %s", short, exc)
        finally:
            self._opening.discard(battle_id)

    async def open(self, battle_id: bytes) -> str | None:
        """DJ A: submit the battle's gate entry with DJ B's signature (from its accept) and ours.

        Returns the transaction hash, or None when the entry exists already or cannot be opened.
        """
        short = battle_id.hex()[:12]
        machine = self.battles.battles[battle_id].machine
        if await self.votes.battle(battle_id) is not None:
            return None  # opened already (a restart replays the accept)
        accept = machine.accept.message if machine.accept is not None else None
        if not isinstance(accept, BattleAccept) or not accept.gate_signature:
            log.info("battle %s: DJ B's accept carries no gate signature: no votes", short)
            return None
        terms = await self.terms(machine.spec, machine.djs)
        if terms is None:
            log.info("battle %s: this ListenGate takes no entry for it", short)
            return None
        ours = self._sign(battle_id, terms)
        signatures = [Signature.from_bytes(ours), Signature.from_bytes(accept.gate_signature)]
        tx = await self.votes.create_battle(
            battle_id,
            terms.djs,
            price_wei=terms.price_wei,
            ends_at=terms.ends_at,
            reward_bps=terms.reward_bps,
            signatures=signatures,
        )
        log.info("battle %s: open for votes in the ListenGate (tx %s)", short, tx)
        return tx
