"""`djmesh battle challenge|accept|join|sponsor|list|show`, `djmesh reward claim` and `djmesh tip`.

Each is one control call to the running node (``node.battle.control``, ``node.money_control``); this
module imports nothing heavy, so registering the commands costs the rest of the CLI nothing. Amounts
are given in ETH (or e.g. ``5000wei``) and travel as decimal text of wei.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from djmesh.node.home import NodeHome

#: a challenge with a prize opens the escrow and the gate entry (two transactions) before it returns
MONEY_TIMEOUT_S = 300.0
LAMPORTS_PER_SOL = 10**9


def register(commands: Any) -> None:
    register_battle(commands)
    register_reward(commands)
    register_tip(commands)


def register_battle(commands: Any) -> None:
    battle = commands.add_parser(
        "battle",
        help="battles: challenge | accept | join | sponsor | list | show",
        description="Battles through the running node. PEER is a peer ID or a profile name only one peer has.",
    )
    actions = battle.add_subparsers(dest="battle_action", metavar="ACTION", required=True)

    sub = actions.add_parser("challenge", help="challenge a peer to a battle; prints {battle_id}")
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument("peer", nargs="?", metavar="PEER", help="peer ID or profile name")
    who.add_argument("--open", action="store_true", help="a challenge anyone in the genre may accept")
    sub.add_argument("--genre", required=True, metavar="G")
    sub.add_argument("--tracks", required=True, type=int, metavar="N")
    sub.add_argument("--set-seconds", required=True, type=int, metavar="S")
    sub.add_argument("--start-in", required=True, type=float, metavar="SECONDS")
    _add_set_or_live(sub)
    sub.add_argument("--mode", choices=("sequential", "simultaneous"), default="simultaneous")
    sub.add_argument(
        "--prize", metavar="ETH", help="your stake in the prize escrow; the opponent stakes the same"
    )
    sub.add_argument(
        "--crowd-weight", type=float, default=0.0, metavar="W", help="share 0..1 of the crowd's votes"
    )
    sub.add_argument("--committee-size", type=int, metavar="N", help="judges (3f+1; default 4)")
    sub.add_argument(
        "--commit-seconds",
        type=int,
        metavar="S",
        help="the judges' time to commit after the sets (default 30)",
    )
    sub.add_argument("--reveal-seconds", type=int, metavar="S", help="then their time to reveal (default 30)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_challenge)

    sub = actions.add_parser(
        "accept", help="accept a challenge made to you (stakes the same prize), or offer to take an open one"
    )
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    _add_set_or_live(sub)
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_accept)

    sub = actions.add_parser("join", help="join a battle as a viewer and committee candidate")
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_join)

    sub = actions.add_parser("sponsor", help="add ETH to a battle's prize")
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    sub.add_argument("amount", metavar="ETH")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_sponsor)

    sub = actions.add_parser("list", help="the battles this node knows")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_list)

    sub = actions.add_parser("show", help="one battle: phase, committee, result, payout")
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    sub.add_argument(
        "--result-file", metavar="OUT", help="write the signed result bundle (for `djmesh verify`)"
    )
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_show)


def _add_set_or_live(sub: Any) -> None:
    played = sub.add_mutually_exclusive_group(required=True)
    played.add_argument("--set", metavar="SETFILE", help="audio file or set TOML (node/battle/setfile.py)")
    played.add_argument(
        "--live",
        metavar="SOURCE",
        help="play live from SOURCE (as `live start` takes it; - is this command's stdin, and the command then runs "
        "until the set is played); cue tracks with `djmesh live cue` or MIDI",
    )


def _set_or_live(args: argparse.Namespace) -> dict[str, Any]:
    return {"set": _absolute(args.set)} if args.set else {"live": args.live}


def register_reward(commands: Any) -> None:
    reward = commands.add_parser("reward", help="listen rewards: claim BATTLE_ID")
    actions = reward.add_subparsers(dest="reward_action", metavar="ACTION", required=True)
    sub = actions.add_parser("claim", help="after a battle, take your listen reward from its ListenGate")
    sub.add_argument("battle_id", metavar="BATTLE_ID")
    sub.add_argument(
        "--to",
        metavar="ADDRESS",
        help="pay the reward to this EVM address (default: your wallet); the claim is still sent, and "
        "seen on chain, from your wallet",
    )
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_reward_claim)


def register_tip(commands: Any) -> None:
    sub = commands.add_parser(
        "tip",
        help="send a peer a tip: ETH to the wallet it bound to its peer ID, SOL to the address in its profile",
    )
    sub.add_argument("peer", metavar="PEER", help="peer ID or profile name")
    sub.add_argument(
        "amount", metavar="AMOUNT", help="ETH (or e.g. 5000wei); with --chain sol, SOL (or 5000lamports)"
    )
    sub.add_argument("--chain", choices=("eth", "sol"), default="eth")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_tip)


# ---- handlers ------------------------------------------------------------------------------------


def _call(args: argparse.Namespace, method: str, timeout_s: float = MONEY_TIMEOUT_S, **params: Any) -> Any:
    import asyncio

    from djmesh.node.control import ControlClient

    home: NodeHome = args.home_obj
    return asyncio.run(ControlClient(home, timeout_s=timeout_s).call(method, **params))


def _print(args: argparse.Namespace, result: Any, text: str) -> int:
    print(json.dumps(result, sort_keys=True, ensure_ascii=False) if args.json else text, flush=True)
    return 0


def _battle_id(text: str) -> str:
    from djmesh.node.cli import CliError

    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise CliError("BATTLE_ID must be 64 hex digits (see `djmesh battle list`)", code=2)
    return raw.hex()


def _wei(text: str, flag: str) -> str:
    from djmesh.node.cli import CliError
    from djmesh.node.ledger_cli import parse_amount

    try:
        return str(parse_amount(text))
    except CliError as exc:
        raise CliError(str(exc).replace("--amount", flag), code=2) from None


def _challenge(args: argparse.Namespace) -> int:
    from djmesh.node.cli import CliError

    if args.open and args.prize is not None:
        from djmesh.node.battle.commands import OPEN_PRIZE_REFUSAL

        raise CliError(OPEN_PRIZE_REFUSAL, code=2)
    if not 0.0 <= args.crowd_weight <= 1.0:
        raise CliError("--crowd-weight must be between 0 and 1", code=2)
    params: dict[str, Any] = {
        **({"open": True} if args.open else {"peer": args.peer}),
        "genre": args.genre,
        "tracks": args.tracks,
        "set_seconds": args.set_seconds,
        "start_in_s": args.start_in,
        **_set_or_live(args),
        "mode": args.mode,
        "crowd_weight": args.crowd_weight,
    }
    if args.prize is not None:
        params["prize_wei"] = _wei(args.prize, "--prize")
    for flag in ("committee_size", "commit_seconds", "reveal_seconds"):
        if getattr(args, flag) is not None:
            params[flag] = getattr(args, flag)
    if _live_from_stdin(params):
        return _with_stdin_deck(args, "battle_challenge", params, lambda result: str(result["battle_id"]))
    result = _call(args, "battle_challenge", **params)
    return _print(args, result, result["battle_id"])


def _live_from_stdin(params: dict[str, Any]) -> bool:
    from djmesh.node.live.stdin_pipe import is_stdin

    return params.get("live") is not None and is_stdin(str(params["live"]))


def _with_stdin_deck(
    args: argparse.Namespace, method: str, params: dict[str, Any], text: Callable[[dict[str, Any]], str]
) -> int:
    """`--live -`: the node, in another process, plays the set from this command's stdin through a FIFO (as
    `live start -`), so the command keeps running until the node has played the set (it stops reading), stdin
    ends, or Ctrl-C."""
    import sys

    from djmesh.node.live.stdin_pipe import play_stdin

    def start(source: str) -> None:
        result = _call(args, method, **{**params, "live": source})
        _print(args, result, text(result))
        print(
            "the node plays this command's stdin when the set window opens: keep it running", file=sys.stderr
        )

    return play_stdin(str(params["live"]), start)


def _absolute(path: str) -> str:
    """The daemon may run in another directory: a set file's path goes as an absolute path."""
    from pathlib import Path

    return str(Path(path).expanduser().resolve())


def _accept(args: argparse.Namespace) -> int:
    params = {"battle_id": _battle_id(args.battle_id), **_set_or_live(args)}
    if _live_from_stdin(params):
        return _with_stdin_deck(
            args, "battle_accept", params, lambda result: f"accepted {result['battle_id']}"
        )
    result = _call(args, "battle_accept", **params)
    stake = int(result.get("stake_wei") or 0)
    if result.get("open"):
        text = f"offered to take {result['battle_id']}: `djmesh battle show` names you DJ B once the challenger binds you"
    else:
        text = f"accepted {result['battle_id']}" + (f" (staked {stake} wei)" if stake else "")
    return _print(args, result, text)


def _join(args: argparse.Namespace) -> int:
    result = _call(args, "battle_join", battle_id=_battle_id(args.battle_id))
    return _print(args, result, f"joined {result['battle_id']}")


def _sponsor(args: argparse.Namespace) -> int:
    amount = _wei(args.amount, "ETH")
    result = _call(args, "battle_sponsor", battle_id=_battle_id(args.battle_id), amount_wei=amount)
    return _print(args, result, f"sponsored {result['amount_wei']} wei: tx {result['tx']}")


def _list(args: argparse.Namespace) -> int:
    battles = _call(args, "battles", timeout_s=60.0)
    rows = [
        f"{b['battle_id']}  {b['phase']:<9} {b['genre']:<10} {b['names'].get('a', '?')} vs {b['names'].get('b', '?')}"
        for b in battles
    ]
    return _print(args, battles, "\n".join(rows) if rows else "(no battles)")


def _show(args: argparse.Namespace) -> int:
    battle = _call(args, "battle_show", timeout_s=60.0, battle_id=_battle_id(args.battle_id))
    if args.result_file:
        from pathlib import Path

        from djmesh.node.cli import CliError

        if not battle.get("bundle"):
            raise CliError("the battle has no agreed result yet: try again after the reveals")
        Path(args.result_file).write_bytes(bytes.fromhex(battle["bundle"]))
    lines = [f"{battle['battle_id']}  {battle['phase']}  {battle['genre']}"]
    result = battle.get("result")
    if result:
        lines.append(
            f"winner {result['winner']}: "
            + ", ".join(f"{side} {row.get('total', 0):.2f}" for side, row in sorted(result["scores"].items()))
        )
    if battle.get("committee"):
        lines.append(f"committee: {len(battle['committee'])} judges")
    if battle.get("can_judge") is False:
        lines.append(
            f"judge {battle['judge'][:12]}: another djmesh release's, so this node does not judge it"
        )
    if battle.get("payout"):
        payout = battle["payout"]
        lines.append(f"paid {payout['amount_wei']} wei to {payout['to']} (tx {payout['tx']})")
    return _print(args, battle, "\n".join(lines))


def _reward_claim(args: argparse.Namespace) -> int:
    params: dict[str, Any] = {"battle_id": _battle_id(args.battle_id)}
    if args.to is not None:
        params["to"] = args.to
    result = _call(args, "reward_claim", **params)
    return _print(args, result, f"claimed {result['amount_wei']} wei to {result['to']}: tx {result['tx']}")


def _lamports(text: str) -> str:
    """'0.5' (SOL) or '5000lamports' as lamports, positive, at most 9 decimals."""
    from decimal import Decimal, InvalidOperation

    from djmesh.node.cli import CliError

    raw = text.strip().lower()
    try:
        if raw.endswith("lamports"):
            amount = int(raw.removesuffix("lamports"), 10)
        else:
            scaled = Decimal(raw.removesuffix("sol")) * LAMPORTS_PER_SOL
            if not scaled.is_finite() or scaled != scaled.to_integral_value():
                raise InvalidOperation
            amount = int(scaled)
    except (InvalidOperation, ValueError):
        raise CliError(
            f"AMOUNT must be SOL with at most 9 decimals (or e.g. 5000lamports), got {text!r}", code=2
        ) from None
    if amount <= 0:
        raise CliError(f"AMOUNT must be positive, got {text!r}", code=2)
    return str(amount)


def _tip(args: argparse.Namespace) -> int:
    if args.chain == "sol":
        result = _call(args, "tip", peer=args.peer, amount_lamports=_lamports(args.amount), chain="sol")
        text = f"tipped {result['amount_lamports']} lamports to {result['to']}: tx {result['tx']}"
        return _print(args, result, text)
    result = _call(args, "tip", peer=args.peer, amount_wei=_wei(args.amount, "AMOUNT"), chain=args.chain)
    return _print(args, result, f"tipped {result['amount_wei']} wei to {result['to']}: tx {result['tx']}")
