"""The crowd's votes for a judge: the battle's final ListenGate tally, when it can be trusted.

A battle with a crowd weight mixes the share of anonymous votes into each DJ's ``crowd`` criterion
(``judge.scoring``). Every committee member must read the same numbers, so only a *final* tally counts:
the gate entry's voting window must end with the sets (``ends_at`` at most ``sets_end``, which is what
DJ A's node opens, ``node.battle.commands``), and members read it once that time has passed on the wall
clock plus ``SETTLE_S``. Anyone can open a gate entry under a public battle ID first, so an entry
whose DJs are not the battle's (its escrow terms, else the DJs' wallet bindings) or whose window runs
past the sets counts as no votes (logged); so does a chain that does not answer.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from eth_utils.address import to_checksum_address

from djmesh.node.clock import now_s, sleep
from djmesh.protocol.battle import BattleAnnounce, BattleMachine

if TYPE_CHECKING:
    from djmesh.ledger.evm.chain import EvmChain
    from djmesh.node.battle.anonymous_votes import AnonymousVotes, GateBattle
    from djmesh.node.battle.escrow import BattleEscrowService

log = logging.getLogger(__name__)

#: after the window closes, how long a judge waits for the last votes' blocks to be readable
SETTLE_S = 3.0
#: a window may end this much after the sets (the gate counts whole seconds)
WINDOW_SLACK_MS = 1000


def refusal(spec: BattleAnnounce, terms: GateBattle, djs: tuple[str, str] | None) -> str | None:
    """Why a gate entry's tally may not count for the battle ``spec`` announces (None: it counts)."""
    if djs is None or tuple(to_checksum_address(dj) for dj in terms.djs) != djs:
        return "the gate entry does not name the battle's DJs in order"
    if terms.ends_at * 1000 > spec.sets_end + WINDOW_SLACK_MS:
        return "the gate's voting runs past the sets"
    return None


def read_gate(chain: EvmChain, gate_address: str, battle_id: bytes) -> tuple[GateBattle | None, list[int]]:
    """A battle's gate entry and tally, read from the chain without a node (`djmesh verify --chain`)."""
    from djmesh.ledger.artifacts import load_artifact
    from djmesh.node.battle.anonymous_votes import GateBattle

    gate = chain.w3.eth.contract(
        address=to_checksum_address(gate_address), abi=load_artifact("ListenGate").abi
    )
    organizer, price, reward_bps, ends_at, size = gate.functions.battles(battle_id).call()
    if price == 0:
        return None, []
    djs = tuple(str(dj) for dj in gate.functions.dj_list(battle_id).call())
    tally = [int(gate.functions.tally(battle_id, choice).call()) for choice in range(len(djs))]
    return GateBattle(str(organizer), int(price), int(reward_bps), int(ends_at), int(size), djs), tally


def escrow_djs(spec: BattleAnnounce) -> tuple[str, str] | None:
    """The DJs' EVM addresses (A first) as a prize battle's announcement names them."""
    terms = spec.escrow
    if terms is None:
        return None
    return to_checksum_address(terms.dj_a), to_checksum_address(terms.dj_b)


class CrowdTally:
    """``BattleService(crowd_votes=CrowdTally(votes, escrow))``."""

    def __init__(self, votes: AnonymousVotes, escrow: BattleEscrowService | None = None) -> None:
        self.votes = votes
        self.escrow = escrow

    def _djs(self, machine: BattleMachine) -> tuple[str, str] | None:
        """The DJs' EVM addresses, A first, as the battle itself names them (or their bindings)."""
        named = escrow_djs(machine.spec)
        if named is not None:
            return named
        if self.escrow is None:
            return None
        a, b = (self.escrow.wallet_of(machine.djs[side]) for side in ("a", "b"))
        return (a, b) if a is not None and b is not None else None

    async def __call__(self, machine: BattleMachine) -> tuple[int, int]:
        short = machine.battle_id.hex()[:12]
        try:
            return await self._tally(machine)
        except Exception as exc:  # the crowd is one criterion: judging goes on without it
            log.warning("battle %s: no crowd votes (%s)", short, exc)
            return (0, 0)

    async def _tally(self, machine: BattleMachine) -> tuple[int, int]:
        short = machine.battle_id.hex()[:12]
        terms = await self.votes.battle(machine.battle_id)
        if terms is None:
            return (0, 0)
        djs = self._djs(machine)
        if djs is None or tuple(to_checksum_address(dj) for dj in terms.djs) != djs:
            log.info(
                "battle %s: the gate entry does not name the battle's DJs in order: no crowd votes", short
            )
            return (0, 0)
        if terms.ends_at * 1000 > machine.spec.sets_end + WINDOW_SLACK_MS:
            log.info("battle %s: the gate's voting runs past the sets: no crowd votes", short)
            return (0, 0)
        wait_s = terms.ends_at + SETTLE_S - now_s()
        if wait_s > 0:
            await sleep(wait_s)
        tally = await self.votes.tally(machine.battle_id)
        votes = (tally[0], tally[1]) if len(tally) == 2 else (0, 0)
        log.info("battle %s: crowd votes a %d, b %d", short, *votes)
        return votes
