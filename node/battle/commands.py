"""What `djmesh battle ...` does, on a running node's services: challenge, accept, sponsor, show.

One implementation for the control API (so the CLI), the TUI and the demo. Every check that a user
can fail (unknown battle, prize without a chain, empty wallet, ambiguous peer name, a set that does not
fit the rules) runs before anything is sent or paid, and raises a ``NodeError`` whose one line says
what to do.

With a prize, DJ A's node opens the escrow with its stake before announcing; DJ B's node stakes the
same amount when it accepts. With a ListenGate, DJ B's node signs the battle's gate terms in its accept
and DJ A's node then opens the gate entry with both signatures (``node.battle.gate_entry``; one listen
unit buys one anonymous vote), so nobody has to type anything for voting; a battle with a crowd weight
closes the votes with the sets and counts them (``node.battle.crowd``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from djmesh.node.battle.service import BattleState
from djmesh.node.battle.setfile import LoadedSet
from djmesh.node.battle.view import battle_json
from djmesh.node.errors import NodeError
from djmesh.protocol import peer_id_from_public_key, public_key_from_peer_id
from djmesh.protocol.battle import Phase, Rules
from djmesh.protocol.errors import ProtocolError

if TYPE_CHECKING:
    from djmesh.node.services import NodeServices

log = logging.getLogger(__name__)

#: what a stake or sponsorship leaves in the wallet for the transaction's gas
GAS_MARGIN_WEI = 10**16
#: the BattleEscrow entry names DJ B's address when DJ A opens it, before anyone took an open challenge
OPEN_PRIZE_REFUSAL = (
    "an open challenge cannot have a prize (the escrow must name the opponent's wallet when it is "
    "opened): challenge a named PEER for a prize, or drop --prize"
)


async def resolve_peer(services: NodeServices, text: str) -> str:
    """A peer ID, given one or a profile name that exactly one known peer claims. A name nobody known
    claims may be a connected peer's that this node has not heard: its profile never fetched (a node that
    just started), or fetched before it took that name (a peer's profile updates reach its followers only).
    The connected peers are asked for their own profiles once before the name is refused."""
    try:
        public_key_from_peer_id(text)
        return text
    except ProtocolError:
        pass
    names = services.node.names
    matches = names.find(text)
    if not matches:
        connected = [info.peer_id for info in services.node.peers()]
        if connected and await services.node.profiles.refresh(connected):
            matches = names.find(text)
    if not matches:
        raise NodeError(f"no known peer is called {text!r}: give its peer ID (see `djmesh peers`)")
    if len(matches) > 1:
        shown = ", ".join(sorted(matches))
        raise NodeError(f"{len(matches)} peers are called {text!r} ({shown}): give the peer ID")
    return matches[0]


def check_set_fits(loaded: LoadedSet, rules: Rules) -> None:
    """A set whose declared tracks do not fit the battle's rules is refused before anything is sent."""
    titles, cues = loaded.dj_set.titles, loaded.dj_set.cues_ms
    if len(titles) > rules.tracks:
        raise NodeError(
            f"the set declares {len(titles)} tracks but the battle allows {rules.tracks}: "
            "trim the set file's [[tracks]] or raise --tracks"
        )
    if cues and cues[-1] >= rules.set_seconds * 1000:
        raise NodeError(
            f"the set's last cue is at {cues[-1] / 1000:.0f} s, past the battle's {rules.set_seconds} s: "
            "move it earlier or raise --set-seconds"
        )


class BattleCommands:
    """The battle commands on one node (see the module docstring)."""

    def __init__(self, services: NodeServices) -> None:
        self.services = services

    def state(self, battle_id: bytes) -> BattleState:
        state = self.services.battles.battles.get(battle_id)
        if state is None:
            raise NodeError(f"unknown battle {battle_id.hex()}: see `djmesh battle list`")
        return state

    async def _need_funds(self, amount_wei: int, what: str) -> None:
        ledger = self.services.need_ledger(what)
        balance = await asyncio.to_thread(ledger.chain.balance, ledger.address)
        if balance < amount_wei + GAS_MARGIN_WEI:
            raise NodeError(
                f"{what} needs {amount_wei} wei plus gas, and your wallet {ledger.address} holds {balance} wei: "
                "fund it first"
            )

    def _escrow(self, what: str) -> Any:
        self.services.need_ledger(what)
        if self.services.escrow is None:
            raise NodeError(
                f"{what} needs the BattleEscrow contract: add it to [ledger] contracts in config.toml"
            )
        return self.services.escrow

    async def challenge(
        self,
        peer: str | None,
        loaded: LoadedSet,
        *,
        rules: Rules,
        start_in_s: float,
        prize_wei: int = 0,
        accept_s: float | None = None,
        commit_seconds: int = 30,
        reveal_seconds: int = 30,
        title: str = "",
    ) -> bytes:
        """Challenge ``peer`` (ID or unambiguous name; None: an open challenge any DJ may take); with
        ``prize_wei``, staked in the escrow first."""
        if peer is None and prize_wei > 0:
            raise NodeError(OPEN_PRIZE_REFUSAL)
        check_set_fits(loaded, rules)  # the user's own mistake first: it needs no peer to be known
        opponent = await resolve_peer(self.services, peer) if peer is not None else None
        if opponent == self.services.node.peer_id:
            raise NodeError("you cannot challenge yourself")
        timing: dict[str, Any] = {
            "rules": rules,
            "start_in_s": start_in_s,
            "accept_s": accept_s,
            "commit_seconds": commit_seconds,
            "reveal_seconds": reveal_seconds,
            "title": title,
        }
        try:
            if prize_wei > 0:
                escrow = self._escrow("a prize")
                await self._need_funds(prize_wei, "the prize")
                battle_id: bytes = await escrow.announce(
                    opponent, loaded.dj_set, stake_wei=prize_wei, **timing
                )
            else:
                battle_id = await self.services.battles.announce(opponent, loaded.dj_set, **timing)
        except (ProtocolError, ValueError) as exc:
            raise NodeError(f"cannot announce: {exc}") from exc
        return battle_id

    async def accept(self, battle_id: bytes, loaded: LoadedSet) -> dict[str, Any]:
        """Accept a challenge made to us; stake the challenger's prize when there is one.

        An open challenge's accept is an offer: the battle is ours once the challenger's node binds it
        (``"open": true`` in the answer; ``djmesh battle show`` then names us as DJ B)."""
        state = self.state(battle_id)
        machine = state.machine
        me = self.services.node.public_key
        if machine.spec.is_open:
            if machine.announce.author == me:
                raise NodeError("this is your own open challenge: another DJ takes it")
            if machine.bind is not None:
                raise NodeError("this open challenge was taken by another DJ already")
        elif machine.spec.opponent != me:
            raise NodeError("this challenge was made to another peer: only they can accept it")
        if machine.phase is not Phase.ANNOUNCED:
            raise NodeError(f"the battle is {machine.phase.value}: it can no longer be accepted")
        check_set_fits(loaded, machine.spec.rules)
        gates = self.services.gates
        signature = await gates.sign_for_accept(battle_id) if gates is not None else b""
        if machine.spec.escrow is None:
            await self.services.battles.accept(battle_id, loaded.dj_set, gate_signature=signature)
            out: dict[str, Any] = {"battle_id": battle_id.hex(), "accepted": True, "stake_wei": "0"}
            if machine.spec.is_open:
                out["open"] = True  # an offer until the challenger's node binds it
            return out
        escrow = self._escrow("accepting a battle with a prize")
        dj_a = "0x" + machine.spec.escrow.dj_a.hex()
        prize = await asyncio.to_thread(
            escrow.escrow.stake_of, battle_id, escrow.chain.w3.to_checksum_address(dj_a)
        )
        if prize > 0:
            await self._need_funds(prize, "staking the same prize")
        await escrow.accept(battle_id, loaded.dj_set, stake_wei=prize, gate_signature=signature)
        return {"battle_id": battle_id.hex(), "accepted": True, "stake_wei": str(prize)}

    async def sponsor(self, battle_id: bytes, amount_wei: int) -> dict[str, Any]:
        state = self.state(battle_id)
        if state.machine.spec.escrow is None:
            raise NodeError("this battle has no prize escrow: there is nothing to sponsor")
        if amount_wei <= 0:
            raise NodeError("a sponsorship must be more than 0")
        escrow = self._escrow("sponsoring")
        await self._need_funds(amount_wei, "the sponsorship")
        tx = await escrow.sponsor(battle_id, amount_wei)
        return {"battle_id": battle_id.hex(), "tx": tx, "amount_wei": str(amount_wei)}

    def _bundle_hex(self, battle_id: bytes, state: BattleState) -> str | None:
        """The signed result bundle this node agreed on (what `djmesh verify` checks), as hex."""
        from djmesh.protocol.battle import BattleResult, battle_topic
        from djmesh.protocol.consensus import verify_bundle_envelope

        if state.result is None:
            return None
        store = self.services.node.store
        for envelope in store.by_topics([battle_topic(battle_id)], kinds=(BattleResult.KIND,), limit=256):
            try:
                result = verify_bundle_envelope(envelope)
            except ProtocolError:
                continue
            agreed = state.result
            if (result.battle_id, result.winner, result.scores) == (battle_id, agreed.winner, agreed.scores):
                return envelope.wire.hex()
        return None

    async def show(self, battle_id: bytes) -> dict[str, Any]:
        """``battle_json`` plus the committee and, once paid, ``payout {tx, to, amount_wei}``."""
        state = self.state(battle_id)
        services = self.services
        out = battle_json(services.battles, state)
        machine = state.machine
        committee: list[str] = []
        if machine.phase not in (Phase.ANNOUNCED, Phase.ACCEPTED, Phase.SETS):
            committee = [peer_id_from_public_key(key) for key in machine.committee()]
        if state.result is not None:
            committee = [peer_id_from_public_key(key) for key in state.result.committee]
        out["committee"] = committee
        out["bundle"] = self._bundle_hex(battle_id, state)
        out["prize"] = machine.spec.escrow is not None
        out["payout"] = None
        if machine.spec.escrow is not None and services.escrow is not None:
            summary = await services.escrow.payout_summary(battle_id)
            if summary is not None:
                out["payout"] = {
                    "tx": summary["payout_tx"],
                    "to": summary["winner_address"],
                    "amount_wei": summary["prize_wei"],
                }
        return out
