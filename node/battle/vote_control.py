"""Control API methods for anonymous votes: ``vote_methods(votes)`` is merged into the daemon's methods.

- ``listen_register {battle_id}``: pay one listen unit in the battle's ListenGate; ``{battle_id, tx,
  leaf_index}``
- ``vote {battle_id, choice: "a"|"b", relay?: peer_id, max_price_wei?}``: cast this node's anonymous
  vote through a relaying peer, first paying the listen unit when this node has not yet;
  ``{battle_id, choice, tx, nullifier, relayer, registered_tx}`` as read from the chain
- ``votes {battle_id}``: ``{battle_id, tally, cast, relayed}``, the rows being ``{tx, nullifier}``
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from djmesh.ledger.errors import LedgerError
from djmesh.node import control_params as req
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError
from djmesh.node.node import Node

if TYPE_CHECKING:
    from djmesh.node.battle.anonymous_votes import AnonymousVotes


def _choice(params: dict[str, Any]) -> str:
    choice = params.get("choice")
    if choice not in ("a", "b"):
        raise ControlError("choice must be a or b")
    return str(choice)


def _relay(params: dict[str, Any]) -> str | None:
    relay = params.get("relay")
    if relay is not None and (not isinstance(relay, str) or not relay):
        raise ControlError("relay must be a peer ID")
    return relay


def _max_price(params: dict[str, Any]) -> int | None:
    """``max_price_wei``: the most one listen unit may cost (decimal text or integer); absent: the gate's price."""
    value = params.get("max_price_wei")
    if value is None:
        return None
    try:
        price = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else -1
    except ValueError:
        price = -1
    if price < 0:
        raise ControlError("max_price_wei must be a non-negative integer (wei)")
    return price


def vote_methods(votes: AnonymousVotes) -> dict[str, Handler]:
    """The anonymous-vote methods, bound to the daemon's ``AnonymousVotes``."""
    # web3 and the prover cost about a second to import: a node without votes never pays it
    from djmesh.node.battle.anonymous_votes import NotRegisteredError, nullifier_hex

    async def _listen_register(node: Node, params: dict[str, Any]) -> Any:
        try:
            done = await votes.register(req.hex32(params, "battle_id"), max_price_wei=_max_price(params))
        except LedgerError as exc:
            raise ControlError(str(exc)) from exc
        return {"battle_id": done.battle_id.hex(), "tx": done.tx, "leaf_index": done.leaf_index}

    async def _vote(node: Node, params: dict[str, Any]) -> Any:
        battle_id, choice = req.hex32(params, "battle_id"), _choice(params)
        relay, max_price, registered = _relay(params), _max_price(params), None
        try:
            try:
                receipt = await votes.vote(battle_id, choice, relay=relay)
            except NotRegisteredError:  # the vote's right is one paid listen unit: pay it now
                registered = await votes.register(battle_id, max_price_wei=max_price)
                receipt = await votes.vote(battle_id, choice, relay=relay)
        except LedgerError as exc:
            raise ControlError(str(exc)) from exc
        return {
            "battle_id": battle_id.hex(),
            "choice": choice,
            "tx": receipt.tx,
            "nullifier": nullifier_hex(receipt.nullifier),
            "relayer": receipt.relayer,
            "registered_tx": registered.tx if registered is not None else None,
        }

    async def _votes(node: Node, params: dict[str, Any]) -> Any:
        try:
            return await votes.report(req.hex32(params, "battle_id"))
        except LedgerError as exc:
            raise ControlError(str(exc)) from exc

    return {"listen_register": _listen_register, "vote": _vote, "votes": _votes}


def unavailable_vote_methods(reason: str) -> dict[str, Handler]:
    """The same methods on a node without a ledger: each answers why, instead of "unknown method"."""

    async def _unavailable(node: Node, params: dict[str, Any]) -> Any:
        raise ControlError(f"anonymous votes are off on this node: {reason}")

    return {"listen_register": _unavailable, "vote": _unavailable, "votes": _unavailable}
