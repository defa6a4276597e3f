"""`djmesh vote BATTLE_ID a|b [--relay PEER] [--json]`: an anonymous vote through the running node."""

from __future__ import annotations

import argparse
import json
from typing import Any

from djmesh.node.home import NodeHome

#: proving (~1 s) and waiting for the relayed transaction, possibly with several relayers in turn
VOTE_TIMEOUT_S = 300.0


def register(commands: Any) -> None:
    sub = commands.add_parser(
        "vote",
        help="vote anonymously for DJ a or b (a paid listen unit, a ZK proof, a relaying peer)",
        description="Cast this node's anonymous vote in a battle through a relaying peer.",
    )
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    sub.add_argument("choice", choices=("a", "b"))
    sub.add_argument("--relay", metavar="PEER", help="relay through this peer (default: connected peers)")
    sub.add_argument("--json", action="store_true", help="print {battle_id, choice, tx, nullifier, relayer}")
    sub.set_defaults(handler=_vote)


def _vote(args: argparse.Namespace) -> int:
    import asyncio

    from djmesh.node.cli import CliError
    from djmesh.node.control import ControlClient

    try:
        battle_id = bytes.fromhex(args.battle_id)
    except ValueError:
        battle_id = b""
    if len(battle_id) != 32:
        raise CliError("BATTLE_ID must be 64 hex digits", code=2)
    home: NodeHome = args.home_obj
    params: dict[str, Any] = {"battle_id": battle_id.hex(), "choice": args.choice}
    if args.relay:
        params["relay"] = args.relay
    result = asyncio.run(ControlClient(home, timeout_s=VOTE_TIMEOUT_S).call("vote", **params))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print(
            f"voted {args.choice}: tx {result['tx']} (nullifier {result['nullifier']}, sent by {result['relayer']})"
        )
    return 0
