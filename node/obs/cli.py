"""`djmesh obs connect`: switch OBS scenes on the running node's battle events (obs-websocket v5)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from djmesh.node.home import NodeHome

PASSWORD_ENV = "DJMESH_OBS_PASSWORD"


def register(commands: Any) -> None:
    obs = commands.add_parser(
        "obs", help="OBS: switch scenes on battle events", description="OBS through obs-websocket v5."
    )
    actions = obs.add_subparsers(dest="obs_action", metavar="ACTION", required=True)
    sub = actions.add_parser(
        "connect",
        help="connect to OBS and follow the running node's battles",
        description="Switch OBS's program scene when a battle is announced, starts, ends, has a result "
        "or is cancelled. Events: announced started ended result result_a result_b cancelled.",
    )
    sub.add_argument(
        "--url", default="ws://127.0.0.1:4455", help="obs-websocket URL (default ws://127.0.0.1:4455)"
    )
    sub.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"the obs-websocket password (first line); or set ${PASSWORD_ENV}",
    )
    sub.add_argument("--scene", action="append", default=[], metavar="EVENT=SCENE", help="repeatable")
    sub.add_argument("--scenes", metavar="FILE", help='TOML file with a [scenes] table (event = "scene")')
    sub.add_argument("--battle", metavar="BATTLE_ID", help="follow only this battle")
    sub.add_argument("--seconds", type=float, metavar="N", help="stop after N seconds (default: Ctrl-C)")
    sub.add_argument("--json", action="store_true", help="one JSON object per scene switch")
    sub.set_defaults(handler=_connect)


def _password(args: argparse.Namespace) -> str | None:
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            from djmesh.node.cli import CliError

            raise CliError(f"--password-file: {exc}", code=2) from exc
        return lines[0] if lines else ""
    return os.environ.get(PASSWORD_ENV)


def _connect(args: argparse.Namespace) -> int:
    import asyncio

    from djmesh.node.cli import CliError
    from djmesh.node.obs.scenes import scene_map

    if args.seconds is not None and args.seconds <= 0:
        raise CliError("--seconds must be positive", code=2)
    if not args.url.startswith(("ws://", "wss://")):
        raise CliError("--url must start with ws:// or wss://", code=2)
    scenes = scene_map(args.scene, args.scenes)
    try:
        return asyncio.run(_run(args, scenes, _password(args)))
    except KeyboardInterrupt:
        return 0


async def _run(args: argparse.Namespace, scenes: Any, password: str | None) -> int:
    from djmesh.node.control import ControlClient
    from djmesh.node.errors import ControlError
    from djmesh.node.obs.bridge import check_scenes, run_obs_bridge
    from djmesh.node.obs.client import ObsClient
    from djmesh.node.obs.errors import ObsError

    home: NodeHome = args.home_obj
    control = ControlClient(home, timeout_s=15.0)
    try:
        await control.call("battles")
    except ControlError as exc:
        if "unknown method" in str(exc):
            raise ObsError("the running node does not expose its battles (control method 'battles')") from exc
        raise

    async def snapshots() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await control.call("battles")
        return found

    def emit(line: dict[str, Any]) -> None:
        if args.json:
            print(json.dumps(line, sort_keys=True), flush=True)
        else:
            outcome = "" if line.get("ok", True) else f" failed: {line['error']}"
            scene = line["scene"] if line["scene"] is not None else "(no scene mapped)"
            print(f"battle {line['battle_id'][:12]} {line['event']} -> {scene}{outcome}", flush=True)

    async with ObsClient(args.url, password) as client:
        await check_scenes(client, scenes)
        if not args.json:
            print(f"connected to OBS {client.obs_version or ''} at {args.url}", file=sys.stderr, flush=True)
        switched = await run_obs_bridge(
            client, snapshots, scenes, battle_id=args.battle, seconds=args.seconds, emit=emit
        )
    if args.json:
        print(json.dumps({"event": "summary", "switched": switched}), flush=True)
    return 0
