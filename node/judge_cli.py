"""`djmesh judge`, `djmesh verify` and `djmesh leaderboard`.

Imports of the heavy parts (dsp, onnxruntime) happen inside the handlers so that
registering these subcommands costs nothing for the rest of the CLI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from djmesh.node.errors import NodeError


def register(commands: Any) -> None:
    sub = commands.add_parser(
        "judge",
        help="judge two recorded sets (which DJ wins), or score one set alone for practice",
        description="Judge two recorded sets with the pinned scoring model: technical, musical, rules; "
        "every penalty comes with its time in the set (findings). With one set, score it alone.",
    )
    sub.add_argument("set_a", metavar="SET_A")
    sub.add_argument(
        "set_b", metavar="SET_B", nargs="?", help="the other DJ's set (omit to score SET_A alone)"
    )
    sub.add_argument("--genre", default="house", help="genre rules (BPM range); default house")
    sub.add_argument("--cues-a", metavar="S,S,...", help="declared track start times of set A (s)")
    sub.add_argument("--cues-b", metavar="S,S,...", help="declared track start times of set B (s)")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_judge)

    sub = commands.add_parser(
        "verify",
        help="check a battle result bundle offline (signatures, committee, quorum, medians)",
        description="Check a battle result bundle offline: signatures, committee, quorum and medians.",
    )
    sub.add_argument("result_file", metavar="RESULT_FILE")
    sub.add_argument(
        "--chain",
        action="store_true",
        help="also re-check the crowd criterion against the battle's ListenGate tally on the chain of "
        "config.toml's [ledger]",
    )
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_verify)

    sub = commands.add_parser(
        "leaderboard",
        help="ratings per genre from the verified battle results in the store",
        description="Ratings per genre, recomputed from the verified battle results in this node's store.",
    )
    sub.add_argument("--genre", help="one genre only")
    sub.add_argument("--json", action="store_true")
    sub.set_defaults(handler=_leaderboard)


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _cues(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise NodeError(f"cues must be comma-separated seconds, got {text!r}") from None


def _judge(args: argparse.Namespace) -> int:
    from djmesh.judge.analysis import JudgeInputError
    from djmesh.judge.model import ModelError
    from djmesh.judge.scoring import judge_sets
    from djmesh.protocol.battle import GENRES, Rules

    if args.genre not in GENRES:
        raise NodeError(f"unknown genre {args.genre!r}; known: {', '.join(sorted(GENRES))}")
    rules = Rules.for_genre(args.genre)
    for path in (args.set_a, args.set_b):
        if path is not None and not Path(path).is_file() and "://" not in path:
            raise NodeError(f"no such file: {path}")
    if args.set_b is None:
        return _score_one(args, rules)
    try:
        verdict = judge_sets(
            args.set_a, args.set_b, rules, cues_a=_cues(args.cues_a), cues_b=_cues(args.cues_b)
        )
    except (JudgeInputError, ModelError) as exc:
        raise NodeError(str(exc)) from exc
    result = verdict.as_json()
    if args.json:
        _print_json(result)
        return 0
    names = {"a": args.set_a, "b": args.set_b}
    print(f"winner: {verdict.winner.upper()} ({names[verdict.winner]})")
    keys = list(result["scores"]["a"])
    print(f"{'criterion':<12} {'A':>6} {'B':>6}")
    for key in keys:
        print(f"{key:<12} {result['scores']['a'][key]:>6.2f} {result['scores']['b'][key]:>6.2f}")
    for side in ("a", "b"):
        for flag in result["flags"][side]:
            print(f"flag {side.upper()}: {flag}")
    for side in ("a", "b"):
        for finding in result["findings"][side]:
            print(f"{side.upper()} {finding['criterion']:<12} {finding['text']}")
    print(f"model {verdict.model[:16]}")
    return 0


def _score_one(args: argparse.Namespace, rules: Any) -> int:
    """`djmesh judge SET`: one set's scores and findings, no opponent (practice)."""
    from djmesh.judge.analysis import JudgeInputError, analyse
    from djmesh.judge.model import ModelError
    from djmesh.judge.scoring import findings_json, read_bpm_range, score_set

    if args.cues_b is not None:
        raise NodeError("--cues-b needs a second set")
    cues = _cues(args.cues_a)
    bpm_range = read_bpm_range(rules)
    try:
        scores = score_set(analyse(args.set_a, bpm_range=bpm_range, cues=cues), rules, cues=cues)
    except (JudgeInputError, ModelError) as exc:
        raise NodeError(str(exc)) from exc
    findings = findings_json(scores)
    if args.json:
        _print_json({"scores": scores.values, "findings": findings, "flags": list(scores.flags)})
        return 0
    for key, value in scores.values.items():
        print(f"{key:<12} {value:>6.2f}")
    for flag in scores.flags:
        print(f"flag: {flag}")
    if not findings:
        print("no findings: nothing to practise")
    for finding in findings:
        print(f"{finding['criterion']:<12} {finding['text']}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from djmesh.protocol.consensus import verify_result
    from djmesh.protocol.errors import ProtocolError

    try:
        data = Path(args.result_file).read_bytes()
    except OSError as exc:
        raise NodeError(f"cannot read {args.result_file}: {exc.strerror}") from exc
    try:
        result = verify_result(data)
    except ProtocolError as exc:
        if args.json:
            _print_json({"valid": False, "error": str(exc)})
        print(f"error: invalid result: {exc}", file=sys.stderr)
        return 1
    summary: dict[str, Any] = result.summary()
    crowd_ok = True
    if args.chain:
        summary["crowd"] = crowd = _crowd_check(args, result)
        crowd_ok = crowd["matches"] is not False
    if args.json:
        _print_json({"valid": crowd_ok, **summary})
    else:
        print(f"valid result for battle {summary['battle_id']}")
        print(f"result hash: {summary['result_hash']}")
        if summary["forfeit"] is not None:
            print(f"forfeit: DJ {str(summary['forfeit']).upper()} ({summary['forfeit_how']})")
        print(f"winner: {summary['winner']}  (genre {summary['genre']})")
        print(f"revealed {summary['revealed']}/{summary['committee_size']} (quorum {summary['quorum']})")
        for side in ("a", "b"):
            print(f"  {side}: total {summary['scores'][side]['total']}")
        for offence in summary["offences"]:
            print(f"  offence: {offence['peer']} {offence['kind']}")
        if args.chain:
            crowd = summary["crowd"]
            print(f"crowd: tally {crowd['tally']} -> {crowd['expected']}: {crowd['note']}")
    return 0 if crowd_ok else 1


def _crowd_check(args: argparse.Namespace, result: Any) -> dict[str, Any]:
    """The crowd scores the chain's final tally gives (as the judges compute them) against the result's."""
    from djmesh.judge.scoring import crowd_share
    from djmesh.ledger.evm import EvmChain, LedgerConfig
    from djmesh.node.battle.crowd import escrow_djs, read_gate, refusal

    config = LedgerConfig.load(args.home_obj.config_file)
    if not (config.rpc_url and config.chain_id and config.listen_gate):
        raise NodeError("--chain needs rpc_url, chain_id and the ListenGate in config.toml's [ledger]")
    chain = EvmChain.connect(config.rpc_url, chain_id=config.chain_id)
    terms, tally = read_gate(chain, config.listen_gate, result.battle_id)
    spec = result.announce
    votes = (0, 0)
    note = "no gate entry: no votes"
    if terms is not None:
        why_not = refusal(spec, terms, escrow_djs(spec))
        note = why_not or "the gate entry belongs to the battle"
        if why_not is None and len(tally) == 2:
            votes = (tally[0], tally[1])
    expected = {"a": crowd_share(votes[0], votes[1]), "b": crowd_share(votes[1], votes[0])}
    if spec.rules.crowd_weight_permille == 0 or result.scores is None:
        return {
            "tally": tally,
            "expected": expected,
            "matches": None,
            "note": "the rules give the crowd no weight",
        }
    got = {side: result.scores[side].get("crowd", 0) / 100 for side in ("a", "b")}
    matches = all(abs(got[side] - expected[side]) <= 0.01 for side in ("a", "b"))
    return {"tally": tally, "expected": expected, "result": got, "matches": matches, "note": note}


def _leaderboard(args: argparse.Namespace) -> int:
    from djmesh.node.names import PeerNames
    from djmesh.node.records import VerifiedResults, leaderboard_json
    from djmesh.node.store import Store

    home = args.home_obj
    if not Path(home.database).exists():
        raise NodeError(f"no store at {home.database}: run `djmesh init` first")
    with Store(home.database) as store:
        tables = leaderboard_json(VerifiedResults().tables(store), PeerNames(store), genre=args.genre)
    if args.json:
        _print_json(tables)
        return 0
    if not any(tables.values()):
        print("(no verified results yet)")
    for genre, rows in sorted(tables.items()):
        print(f"{genre}:")
        for row in rows:
            average = f"  avg {row['average_score']:.2f}" if row["average_score"] is not None else ""
            print(
                f"  {row['rank']:>3}. {row['name']}  {row['rating']:>7.1f} {row['tier']:<8}  "
                f"{row['wins']}W {row['losses']}L {row['draws']}D{average}"
            )
    return 0
