"""The `djmesh` command: one entry point, subcommands, one-line errors.

Every read command takes ``--json``. Errors print one line on stderr and exit non-zero;
``--debug`` shows the traceback too. Heavy subsystems (analysis, UI) are imported only by
the subcommands that need them, so `djmesh id` starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NoReturn

from djmesh.node.config import ConfigError, NodeConfig
from djmesh.node.errors import NodeError
from djmesh.node.home import NodeHome
from djmesh.node.identity import (
    IdentityError,
    create_identity,
    read_passphrase,
    read_public_key,
)
from djmesh.protocol import ProtocolError, peer_id_from_public_key, public_key_from_peer_id

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from djmesh.dsp import AnalysisProgress, ProgressCallback
    from djmesh.node.progress_line import ProgressLine

# The store, the message views and every subsystem are imported by the commands that use them.

log = logging.getLogger("djmesh")


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, sort_keys=True))


def _home(args: argparse.Namespace) -> NodeHome:
    home: NodeHome = args.home_obj
    return home


def _setup_file_logging(home: NodeHome, level: str) -> None:
    home.ensure()
    handler = logging.FileHandler(home.log_dir / "djmesh.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(level.upper())
    logging.getLogger().addHandler(handler)
    root = logging.getLogger()
    root.setLevel(min(root.level, handler.level))


def _load_config(home: NodeHome) -> NodeConfig:
    return NodeConfig.load(home.config_file)


def cmd_init(args: argparse.Namespace) -> int:
    home = _home(args)
    if home.key_file.exists():
        raise CliError(f"{home.root} already has an identity ({home.key_file}); refusing to overwrite it")
    from djmesh.node.store import Store

    home.ensure()
    passphrase = read_passphrase(args.passphrase_file)
    identity = create_identity(home.key_file, passphrase=passphrase)
    if not home.config_file.exists():
        home.config_file.write_text(NodeConfig(name=args.name or "").to_toml(), encoding="utf-8")
    Store(home.database).close()
    _setup_file_logging(home, "info")
    log.info("initialised node %s in %s", identity.peer_id, home.root)
    if args.json:
        _print_json(
            {"peer_id": identity.peer_id, "home": str(home.root), "encrypted": passphrase is not None}
        )
    else:
        print(f"created node identity in {home.root}")
        print(identity.peer_id)
    return 0


def cmd_id(args: argparse.Namespace) -> int:
    home = _home(args)
    public_key = read_public_key(home.key_file)
    peer_id = peer_id_from_public_key(public_key)
    if args.json:
        config = _load_config(home)
        _print_json({"peer_id": peer_id, "public_key": public_key.hex(), "name": config.name})
    else:
        print(peer_id)
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    config = _load_config(_home(args))
    if args.json:
        _print_json(config.to_json())
    else:
        print(config.to_toml(), end="")
    return 0


def _call(args: argparse.Namespace, method: str, **params: Any) -> Any:
    import asyncio

    from djmesh.node.control import ControlClient

    return asyncio.run(ControlClient(_home(args)).call(method, **params))


def _emit(args: argparse.Namespace, result: Any, text: Callable[[Any], str]) -> int:
    if args.json:
        _print_json(result)
    else:
        rendered = text(result)
        if rendered:
            print(rendered)
    return 0


def _feed_text(items: list[dict[str, Any]]) -> str:
    lines = []
    for item in items:
        stamp = time.strftime("%Y-%m-%d %H:%M", time.localtime(item["created_at"] / 1000))
        who = item.get("author_name") or item["author"][-8:]
        lines.append(f"{stamp}  {who}  {item['text']}  [{item['id'][:12]}]")
    return "\n".join(lines) if lines else "(nothing yet)"


def cmd_post(args: argparse.Namespace) -> int:
    result = _call(
        args, "post", text=args.text, crew=args.crew, mentions=args.mention, reply_to=args.reply_to
    )
    return _emit(args, result, lambda r: r["id"])


def cmd_follow(args: argparse.Namespace) -> int:
    return _emit(args, _call(args, "follow", peer_id=args.peer_id), lambda r: f"following {args.peer_id}")


def cmd_unfollow(args: argparse.Namespace) -> int:
    return _emit(args, _call(args, "unfollow", peer_id=args.peer_id), lambda r: f"unfollowed {args.peer_id}")


def cmd_feed(args: argparse.Namespace) -> int:
    return _emit(args, _call(args, "feed", limit=args.limit, before=args.before), _feed_text)


def cmd_peers(args: argparse.Namespace) -> int:
    def text(peers: list[dict[str, Any]]) -> str:
        rows = []
        for p in peers:
            latency = f"{p['latency_ms']:.1f} ms" if p.get("latency_ms") is not None else "-"
            rows.append(f"{p['peer_id']}  {p.get('name', '')}  {latency}  {' '.join(p['addrs'][:1])}")
        return "\n".join(rows) if rows else "(no peers)"

    return _emit(args, _call(args, "peers"), text)


def cmd_profile(args: argparse.Namespace) -> int:
    if args.action == "show":
        result = _call(args, "profile_show", peer_id=args.peer_id)
        return _emit(args, result, _profile_text)
    wallets = dict(item.split("=", 1) for item in args.wallet) if args.wallet else None
    if args.wallet and any("=" not in item for item in args.wallet):
        raise CliError("--wallet takes CHAIN=ADDRESS", code=2)
    result = _call(
        args, "profile_set", name=args.name, bio=args.bio, links=args.link or None, wallets=wallets
    )
    return _emit(args, result, lambda r: f"profile updated ({r['id'][:12]})")


def _profile_text(profile: dict[str, Any] | None) -> str:
    if profile is None:
        return "(no profile)"
    lines = [str(profile.get("display_name") or profile["name"])]
    if profile["bio"]:
        lines.append(profile["bio"])
    record = profile.get("record") or {}
    if record.get("battles"):
        average = record["average_score"]
        lines.append(
            f"{record['tier']}  {record['wins']}W {record['losses']}L {record['draws']}D"
            + (f"  average score {average:.2f}" if average is not None else "")
        )
        for genre, row in record["genres"].items():
            lines.append(f"  {genre}: {row['rating']:.1f} (#{row['rank']}, {row['tier']})")
    return "\n".join(lines)


def cmd_crew(args: argparse.Namespace) -> int:
    if args.action == "create":
        return _emit(args, _call(args, "crew_create", name=args.target), lambda r: r["crew_id"])
    if args.action == "invite":
        if not args.peer_id:
            raise CliError("crew invite needs CREW_ID PEER_ID", code=2)
        result = _call(args, "crew_invite", crew_id=args.target, peer_id=args.peer_id)
        return _emit(args, result, lambda r: f"invited {args.peer_id}")
    if args.action == "join":
        result = _call(args, "crew_join", crew_id=args.target)
        return _emit(args, result, lambda r: f"joined {r['name'] or r['crew_id']} (member: {r['member']})")
    if args.action == "feed":
        return _emit(args, _call(args, "crew_feed", crew_id=args.target, limit=args.limit), _feed_text)
    return _emit(
        args, _call(args, "crews"), lambda crews: "\n".join(f"{c['crew_id']}  {c['name']}" for c in crews)
    )


def cmd_chat(args: argparse.Namespace) -> int:
    result = _call(args, "chat", room=args.room, text=args.text, limit=args.limit)
    if args.text:
        return _emit(args, result, lambda r: r["id"])
    return _emit(
        args,
        result,
        lambda rows: "\n".join(
            f"{r.get('author_name') or r['author'][-8:]}: {r['payload']['text']}" for r in rows
        ),
    )


def cmd_react(args: argparse.Namespace) -> int:
    return _emit(args, _call(args, "react", id=args.id, emoji=args.emoji), lambda r: r["id"])


def cmd_notifications(args: argparse.Namespace) -> int:
    return _emit(
        args,
        _call(args, "notifications", limit=args.limit),
        lambda rows: (
            "\n".join(r.get("text") or f"{r['kind']} from {r['author'][-8:]}" for r in rows) or "(none)"
        ),
    )


def cmd_flag(args: argparse.Namespace) -> int:
    result = _call(args, "flag", peer_id=args.peer_id, flag=args.command, on=not args.undo)
    return _emit(args, result, lambda r: "")


def cmd_status(args: argparse.Namespace) -> int:
    return _emit(args, _call(args, "status"), _status_text)


def _status_text(status: dict[str, Any]) -> str:
    lines = [f"{k}: {v}" for k, v in status.items() if k != "gossip"]
    gossip = status.get("gossip") or {}
    if "streams_to_peers" in gossip:
        lines.append(
            f"gossip: streams to {gossip['streams_to_peers']} peers, from {gossip['streams_from_peers']};"
            f" received {gossip['received']}, refused {gossip['refused']}, dropped early {gossip['dropped_early']},"
            f" unsent {gossip.get('unsent', 0)}"
        )
    for topic, state in (gossip.get("topics") or {}).items():
        lines.append(f"  {topic}: " + ", ".join(f"{k} {v}" for k, v in state.items()))
    return "\n".join(lines)


def cmd_demo(args: argparse.Namespace) -> int:
    from djmesh.node.demo import format_summary, run_demo

    check_http_address(args.http)
    home = _home(args)
    _setup_file_logging(home, "info")
    progress = None if args.json else (lambda text: print(f"· {text}", file=sys.stderr, flush=True))
    keep_running = args.live or args.http is not None
    if args.http is not None and not args.live and progress is not None:
        progress("--http implies --live: the network and the overlay keep running after the battle")
    if args.no_ledger and args.rpc:
        raise CliError("--rpc and --no-ledger contradict each other", code=2)
    from djmesh.node.foreground import run_until_done

    summary = run_until_done(
        run_demo(
            home.root / "demo",
            viewers=args.viewers,
            byzantine=args.byzantine,
            keep_running=keep_running,
            progress=progress,
            http=args.http,
            rpc=args.rpc,
            with_ledger=not args.no_ledger,
        )
    )
    if args.json:
        _print_json(summary)
    else:
        print(format_summary(summary))
    return 0


def check_http_address(address: str | None) -> None:
    """A bad ``--http`` address is a wrong argument (exit 2), caught before any node starts."""
    from djmesh.node.http.address import HttpAddressError, parse_http_address

    if address is not None:
        try:
            parse_http_address(address)
        except HttpAddressError as exc:
            raise CliError(f"--http {exc}", code=2) from None


def cmd_node(args: argparse.Namespace) -> int:
    from djmesh.node.daemon import run_daemon
    from djmesh.node.foreground import run_until_done

    check_http_address(args.http)
    home = _home(args)
    _setup_file_logging(home, _load_config(home).log_level)
    passphrase = read_passphrase(args.passphrase_file)
    return run_until_done(
        run_daemon(
            home,
            listen=args.listen or None,
            bootstrap=args.bootstrap or None,
            passphrase=passphrase,
            http=args.http,
        )
    )


def cmd_messages(args: argparse.Namespace) -> int:
    from djmesh.node.json_view import envelope_json
    from djmesh.node.store import Store

    home = _home(args)
    if not home.database.exists():
        raise CliError(f"no store at {home.database}; run `djmesh init` first")
    author = None
    if args.author:
        try:
            author = public_key_from_peer_id(args.author)
        except ProtocolError as exc:
            raise CliError(f"--author: {exc}", code=2) from exc
    with Store(home.database) as store:
        rows = store.query(author=author, kind=args.kind, limit=args.limit)
    items = [envelope_json(row.envelope, received_at_ms=row.received_at_ms) for row in rows]
    if args.json:
        _print_json(items)
    else:
        for item in items:
            text = item["payload"].get("text", "")
            print(f"{item['created_at']} {item['kind']:<10} {item['author'][:16]}… {text}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from djmesh.dsp import analyze_path, format_summary
    from djmesh.node.progress_line import ProgressLine

    if args.bpm_min >= args.bpm_max:
        raise CliError("--bpm-min must be below --bpm-max", code=2)
    # Progress goes to a terminal only: never into --json output, a pipe or a log file.
    line = ProgressLine(sys.stderr) if not args.json and sys.stderr.isatty() else None
    results = []
    for index, path in enumerate(args.paths):
        progress = None if line is None else _analyze_progress(line, f"{index + 1}/{len(args.paths)}", path)
        try:
            result = analyze_path(path, bpm_range=(args.bpm_min, args.bpm_max), progress=progress)
        finally:
            if line is not None:
                line.clear()
        results.append(result)
        if args.json:
            continue
        if "error" in result:  # each result as soon as it is known: a batch can take a while
            print(f"{result['path']}: error: {result['error']}", file=sys.stderr)
        else:
            print(format_summary(result), flush=True)
    if args.json:
        _print_json(results)
    return 1 if any("error" in result for result in results) else 0


def _analyze_progress(line: ProgressLine, counter: str, path: str) -> ProgressCallback:
    """Shows an analysis's progress on the terminal's status line (the path last: a narrow terminal
    cuts the line short)."""

    def show(progress: AnalysisProgress) -> None:
        if progress.fraction is None:  # the input does not say how long it is
            minutes, seconds = divmod(int(progress.seconds), 60)
            line.show(f"analyze {counter} {minutes}:{seconds:02d} decoded  {path}")
        else:
            line.show(f"analyze {counter} {progress.fraction:4.0%}  {path}")

    return show


def cmd_version(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    from djmesh.protocol import PROTOCOL_VERSION

    info = {"djmesh": version("djmesh"), "protocol": PROTOCOL_VERSION}
    return _emit(args, info, lambda i: f"djmesh {i['djmesh']} (protocol {i['protocol']})")


HTTP_HELP = (
    "serve the OBS overlay (/overlay), browser listener (/listen/STREAM_ID) and JSON API (/api) on "
    "HOST:PORT (a bare PORT: loopback; port 0: any free port)"
)


def entry_points(*, group: str) -> Sequence[EntryPoint]:
    """The installed packages' entry points in ``group`` (importlib.metadata is loaded only when asked)."""
    from importlib.metadata import entry_points as installed

    return installed(group=group)


def command_named(argv: Sequence[str]) -> str | None:
    """The subcommand ``argv`` names (its first positional, past ``--home DIR``), or None."""
    skip_value = False
    for token in argv:
        if skip_value:
            skip_value = False
        elif token == "--":
            return None
        elif token.startswith("-"):
            # --home DIR (argparse also takes a prefix such as --ho; --home=DIR carries its value)
            skip_value = "=" not in token and len(token) > 3 and "--home".startswith(token)
        else:
            return token
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole command line; given ``argv`` that names a built-in command, without the plugins'
    subcommands (finding and importing them is most of a light command's start-up)."""
    parser = argparse.ArgumentParser(prog="djmesh", description="Peer-to-peer realtime DJ battle network.")
    parser.add_argument(
        "--home", metavar="DIR", help="node home (default: $DJMESH_HOME, else the XDG data dir)"
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        name: str, handler: Callable[[argparse.Namespace], int], help_text: str
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler)
        return sub

    def add_passphrase(sub: argparse.ArgumentParser) -> None:
        sub.add_argument(
            "--passphrase-file", metavar="FILE", help="key passphrase (first line); or set $DJMESH_PASSPHRASE"
        )

    sub = add("init", cmd_init, "create this node's identity and home")
    sub.add_argument("--name", help="display name written to config.toml")
    add_passphrase(sub)
    sub.add_argument("--json", action="store_true")

    sub = add("id", cmd_id, "print this node's peer ID")
    sub.add_argument("--json", action="store_true")

    sub = add("config", cmd_config, "print the effective configuration")
    sub.add_argument("--json", action="store_true")

    sub = add("node", cmd_node, "run a node in the foreground (control API for the commands below)")
    sub.add_argument("--listen", action="append", metavar="MULTIADDR", help="e.g. /ip4/127.0.0.1/tcp/0")
    sub.add_argument("--bootstrap", action="append", metavar="MULTIADDR", help="bootstrap peer (repeatable)")
    sub.add_argument("--http", metavar="ADDR", help=HTTP_HELP)
    add_passphrase(sub)

    sub = add(
        "demo", cmd_demo, "a whole battle on loopback: bootstrap, two DJs, N viewers, judging, consensus"
    )
    sub.add_argument(
        "--viewers", type=int, default=4, help="viewer nodes (default 4; the committee is 3f+1 of them)"
    )
    sub.add_argument(
        "--byzantine", type=int, default=0, metavar="F", help="viewers that lie in their verdicts"
    )
    sub.add_argument("--live", action="store_true", help="keep the network running afterwards")
    sub.add_argument("--http", metavar="ADDR", help=f"{HTTP_HELP}; implies --live")
    sub.add_argument(
        "--rpc",
        metavar="URL",
        help="settle on this EVM dev chain (e.g. `djmesh devnet`); default: an in-process chain",
    )
    sub.add_argument(
        "--no-ledger", action="store_true", help="run the battle without prizes, payments or on-chain votes"
    )
    sub.add_argument("--json", action="store_true")

    sub = add("post", cmd_post, "publish a post (through the running node)")
    sub.add_argument("text")
    sub.add_argument("--crew", metavar="CREW_ID", help="post to a crew (members only)")
    sub.add_argument("--mention", action="append", metavar="PEER_ID")
    sub.add_argument("--reply-to", metavar="ID")
    sub.add_argument("--json", action="store_true")

    for name, handler, help_text in (
        ("follow", cmd_follow, "follow a peer"),
        ("unfollow", cmd_unfollow, "stop following a peer"),
    ):
        sub = add(name, handler, help_text)
        sub.add_argument("peer_id", metavar="PEER_ID")
        sub.add_argument("--json", action="store_true")

    for name, help_text in (
        ("mute", "hide a peer's messages here"),
        ("block", "hide, refuse and stop relaying a peer"),
    ):
        sub = add(name, cmd_flag, help_text)
        sub.add_argument("peer_id", metavar="PEER_ID")
        sub.add_argument("--undo", action="store_true")
        sub.add_argument("--json", action="store_true")

    sub = add("feed", cmd_feed, "posts by people you follow and yourself, newest first")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--before", type=int, metavar="MS", help="page: created_at of the last item seen")
    sub.add_argument("--json", action="store_true")

    sub = add("peers", cmd_peers, "connected peers")
    sub.add_argument("--json", action="store_true")

    sub = add("status", cmd_status, "the running node's status")
    sub.add_argument("--json", action="store_true")

    sub = add("profile", cmd_profile, "show or set a profile")
    sub.add_argument("action", choices=("show", "set"))
    sub.add_argument("peer_id", nargs="?", metavar="PEER_ID", help="whose profile to show (default: yours)")
    sub.add_argument("--name")
    sub.add_argument("--bio")
    sub.add_argument("--link", action="append")
    sub.add_argument("--wallet", action="append", metavar="CHAIN=ADDRESS")
    sub.add_argument("--json", action="store_true")

    sub = add(
        "crew", cmd_crew, "crews: create NAME | invite CREW_ID PEER_ID | join CREW_ID | feed CREW_ID | list"
    )
    sub.add_argument("action", choices=("create", "invite", "join", "feed", "list"))
    sub.add_argument("target", nargs="?", metavar="NAME|CREW_ID")
    sub.add_argument("peer_id", nargs="?", metavar="PEER_ID")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--json", action="store_true")

    sub = add("chat", cmd_chat, "say TEXT in ROOM; without TEXT, show the room's recent lines")
    sub.add_argument("room", metavar="ROOM")
    sub.add_argument("text", nargs="?", metavar="TEXT")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--json", action="store_true")

    sub = add("react", cmd_react, "react to a message")
    sub.add_argument("id", metavar="ID")
    sub.add_argument("emoji", metavar="EMOJI")
    sub.add_argument("--json", action="store_true")

    sub = add(
        "notifications",
        cmd_notifications,
        "mentions, new followers, reactions, challenges, your battles' results",
    )
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--json", action="store_true")

    sub = add("messages", cmd_messages, "list stored messages, newest first")
    sub.add_argument("--kind")
    sub.add_argument("--author", metavar="PEER_ID")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--json", action="store_true")

    sub = add(
        "analyze", cmd_analyze, "analyse audio: tempo, beats, key, loudness, tracks, transitions, genre"
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="any input FFmpeg can decode (file or URL)")
    sub.add_argument("--bpm-min", type=float, default=70.0, help="lowest tempo to report (default 70)")
    sub.add_argument("--bpm-max", type=float, default=180.0, help="highest tempo to report (default 180)")
    sub.add_argument("--json", action="store_true")

    sub = add("version", cmd_version, "print the djmesh version")
    sub.add_argument("--json", action="store_true")

    if argv is not None and command_named(argv) in commands.choices:
        return parser
    # Packages that build on the node (bootstrap, tui, ...) add their own subcommands, so
    # the node never imports them: they depend on it, not the other way round. Their modules
    # import only argparse-level things; the rest is imported by the handler when it runs.
    for entry_point in sorted(entry_points(group="djmesh.commands"), key=lambda e: e.name):
        try:
            register: Callable[[Any], None] = entry_point.load()
        except ImportError as exc:  # a broken plugin must not take the whole CLI down
            level = logging.DEBUG if isinstance(exc, ModuleNotFoundError) else logging.WARNING
            log.log(level, "subcommand %s unavailable: %s", entry_point.name, exc)
            continue
        register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    # The networking stack's own complaints go to the log file; the terminal shows ours.
    logging.getLogger("libp2p").propagate = True
    if not args.debug:
        console.addFilter(lambda record: not record.name.startswith("libp2p"))
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=console.level, handlers=[console])
    try:
        args.home_obj = NodeHome.resolve(args.home)
        code: int = args.handler(args)
        return code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        if isinstance(exc, _user_errors()):
            print(f"djmesh: error: {exc}", file=sys.stderr)
            return exc.code if isinstance(exc, CliError) else 1
        print(f"djmesh: error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors whose message is meant for the user as it stands (printed without a type name)."""
    from djmesh.node.store import StoreError  # already loaded by whatever raised one

    return (CliError, IdentityError, ConfigError, StoreError, NodeError)


def run() -> NoReturn:
    """The console command: ``main``, then an exit that skips tearing the heap down object by object.

    A demo or a node ends with a large heap (in-process nodes, audio, the devnet's state); the interpreter's final
    garbage collection of it took up to 30 s on a busy machine after Ctrl-C, which looks like a hang. Every command
    closes its files and stores itself before ``main`` returns, and ``asyncio.run`` has joined its worker threads.
    """
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
