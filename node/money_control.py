"""Control methods that move money, on a node built by ``node.services`` (`djmesh tip`, `reward claim`,
priced `live start`, and what `listen` paid).

- ``tip {peer, amount_wei, chain?: "eth"}``: send ETH to the wallet the peer bound to its peer ID
  (``wallet_binding``); ``{tx, to, amount_wei}``. ``peer`` may be an unambiguous profile name.
- ``tip {peer, amount_lamports, chain: "sol"}``: send SOL from the node's Solana wallet (config.toml's
  ``[solana]``) to the Solana address the peer's signed profile advertises (``wallets.sol``), with the
  memo ``djmesh tip``; ``{tx, to, amount_lamports, chain}`` (``tx``: the transaction signature)
- ``reward_claim {battle_id, to?}``: after the battle's ListenGate window, take this node's listen reward
  (a zero-knowledge proof of one paid listen unit) into its own wallet, or ``to``; ``{tx, amount_wei, to}``.
  The claim is sent from this node's wallet either way (``node.battle.listen_reward`` says what that shows)
- ``live_start {source, price_wei_per_s?, ...}``: as ``node.live.control``'s, priced when asked
  (listeners' nodes pay through ListenChannel vouchers)
- ``listen {stream_id, seconds?, ...}``: as ``node.live.control``'s, plus ``paid_wei`` (decimal text):
  what this node's vouchers promised the DJ for the stream
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from djmesh.node import control_params as req
from djmesh.node.battle.commands import resolve_peer
from djmesh.node.battle.control import wei
from djmesh.node.control_params import Handler
from djmesh.node.errors import ControlError, NodeError
from djmesh.node.live.control import LIVE_METHODS, refuse_node_stdin
from djmesh.node.node import Node
from djmesh.protocol.stream import MAX_BITRATE, MIN_BITRATE

if TYPE_CHECKING:
    from djmesh.node.services import NodeServices

TIP_CHAINS = ("eth", "sol")
TIP_MEMO = "djmesh tip"


def lamports(params: dict[str, Any], name: str) -> int:
    """An amount of lamports: decimal text or an integer; more than 0."""
    value = params.get(name)
    try:
        amount = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else 0
    except ValueError:
        amount = 0
    if amount <= 0:
        raise ControlError(f"{name} must be a whole number of lamports above 0 (decimal text)")
    return amount


async def tip_sol(services: NodeServices, peer_text: str, amount: int) -> dict[str, Any]:
    """SOL to the address ``peer``'s own signed profile advertises; every check before anything is sent."""
    from djmesh.ledger.solana import SolanaError
    from djmesh.protocol.messages import SOLANA_WALLET

    solana = services.need_solana("a SOL tip")
    peer = await resolve_peer(services, peer_text)
    if peer == services.node.peer_id:
        raise NodeError("you cannot tip yourself")
    profile = services.node.profile(peer)
    address = dict(profile[0].wallets).get(SOLANA_WALLET) if profile is not None else None
    if not address:
        raise NodeError(
            f"{peer} advertises no Solana address (no {SOLANA_WALLET} wallet in the profile this node holds): "
            f"they can add one with `djmesh profile set --wallet {SOLANA_WALLET}=ADDRESS`, or tip with --chain eth"
        )
    balance = await solana.sol_balance()
    if balance <= amount:
        raise NodeError(
            f"your Solana wallet {solana.address} holds {balance} lamports, not enough for this tip and its fee: "
            "fund it first"
        )
    try:
        payment = await solana.pay_sol(address, amount, TIP_MEMO)
    except SolanaError as exc:
        raise NodeError(f"the SOL tip was not sent: {exc}") from exc
    return {
        "tx": payment.signature,
        "to": payment.recipient,
        "amount_lamports": str(payment.amount),
        "chain": "sol",
    }


def money_methods(services: NodeServices) -> dict[str, Handler]:
    async def _tip(node: Node, params: dict[str, Any]) -> Any:
        chain = req.text(params, "chain", "eth")
        if chain not in TIP_CHAINS:
            raise ControlError(f"chain must be one of {', '.join(TIP_CHAINS)}")
        if chain == "sol":
            return await tip_sol(services, req.text(params, "peer"), lamports(params, "amount_lamports"))
        amount = wei(params, "amount_wei")
        if amount <= 0:
            raise ControlError("a tip must be more than 0")
        ledger = services.need_ledger("a tip")
        peer = await resolve_peer(services, req.text(params, "peer"))
        if services.escrow is None:
            raise NodeError(
                "a tip needs the peers' wallet bindings (the BattleEscrow service): add it to [ledger]"
            )
        to = await services.escrow.find_wallet(peer)
        balance = await asyncio.to_thread(ledger.chain.balance, ledger.address)
        if balance <= amount:
            raise NodeError(
                f"your wallet {ledger.address} holds {balance} wei, not enough for this tip: fund it first"
            )
        receipt = await asyncio.to_thread(lambda: ledger.sender.transact(to=to, value=amount))
        return {"tx": "0x" + bytes(receipt["transactionHash"]).hex(), "to": to, "amount_wei": str(amount)}

    async def _reward_claim(node: Node, params: dict[str, Any]) -> Any:
        battle_id = req.hex32(params, "battle_id")
        services.need_ledger("a reward claim")
        if services.votes is None:
            raise NodeError(
                "a reward claim needs the ListenGate: add it to [ledger] contracts in config.toml"
            )
        from djmesh.node.battle.listen_reward import claim_reward

        return await claim_reward(services.votes, battle_id, to=req.optional_text(params, "to"))

    async def _live_start(node: Node, params: dict[str, Any]) -> Any:
        price = wei(params, "price_wei_per_s")
        if price == 0:
            return await LIVE_METHODS["live_start"](node, params)
        services.need_ledger("a priced stream")
        if services.seller is None:
            raise NodeError("a priced stream needs the ListenChannel contract: add it to [ledger] contracts")
        source = req.text(params, "source")
        refuse_node_stdin(source)
        bitrate = req.number(params, "bitrate", 128_000, MIN_BITRATE, MAX_BITRATE)
        stream_id = await services.seller.start_stream(
            source, wei_per_s=price, title=req.optional_text(params, "title"), bitrate=int(bitrate or 0)
        )
        return {"stream_id": stream_id, "price_wei_per_s": str(price)}

    async def _listen(node: Node, params: dict[str, Any]) -> Any:
        answer = await LIVE_METHODS["listen"](node, params)
        paid = 0
        if services.payer is not None:
            stream = req.text(params, "stream_id")
            paid = sum(int(row["owed_wei"]) for row in services.payer.status() if row["stream"] == stream)
        return {**answer, "paid_wei": str(paid)}

    return {
        "tip": _tip,
        "reward_claim": _reward_claim,
        "live_start": _live_start,
        "listen": _listen,
    }
