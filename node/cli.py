"""The `djmesh` command: one entry point, subcommands, one-line errors.

Every read command takes ``--json``. Errors print one line on stderr and exit non-zero;
``--debug`` shows the traceback too. Heavy subsystems (analysis, UI) are imported only by
the subcommands that need them, so `djmesh id` starts fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from djmesh.node.config import ConfigError, NodeConfig
from djmesh.node.home import NodeHome
from djmesh.node.identity import (
    IdentityError,
    create_identity,
    load_identity,
    read_passphrase,
    read_public_key,
)
from djmesh.node.store import Store, StoreError
from djmesh.protocol import Post, ProtocolError, peer_id_from_public_key, public_key_from_peer_id, sign

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
        _print_json({key: list(v) if isinstance(v, tuple) else v for key, v in vars(config).items()})
    else:
        print(config.to_toml(), end="")
    return 0


def cmd_post(args: argparse.Namespace) -> int:
    home = _home(args)
    identity = load_identity(home.key_file, passphrase=read_passphrase(args.passphrase_file))
    envelope = sign(Post(text=args.text), identity.signing_key, created_at_ms=int(time.time() * 1000))
    with Store(home.database) as store:
        store.add(envelope)
    content_id = envelope.content_id.hex()
    if args.json:
        _print_json({"content_id": content_id, "created_at_ms": envelope.created_at_ms})
    else:
        print(content_id)
    return 0


def _message_json(envelope: Any, received_at_ms: int) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return value.hex()
        if isinstance(value, list | tuple):
            return [plain(item) for item in value]
        if isinstance(value, dict):
            return {key: plain(item) for key, item in value.items()}
        return value

    return {
        "content_id": envelope.content_id.hex(),
        "kind": envelope.kind,
        "author": envelope.author_peer_id,
        "created_at_ms": envelope.created_at_ms,
        "received_at_ms": received_at_ms,
        "payload": plain(envelope.message.to_payload()),
    }


def cmd_messages(args: argparse.Namespace) -> int:
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
    items = [_message_json(row.envelope, row.received_at_ms) for row in rows]
    if args.json:
        _print_json(items)
    else:
        for item in items:
            text = item["payload"].get("text", "")
            print(f"{item['created_at_ms']} {item['kind']:<10} {item['author'][:16]}… {text}")
    return 0


def cmd_analyze(args: argparse.Namespace) -> int:
    from djmesh.dsp import analyze_path, format_summary

    if args.bpm_min >= args.bpm_max:
        raise CliError("--bpm-min must be below --bpm-max", code=2)
    results = [analyze_path(path, bpm_range=(args.bpm_min, args.bpm_max)) for path in args.paths]
    if args.json:
        _print_json(results)
    else:
        for result in results:
            if "error" in result:
                print(f"{result['path']}: error: {result['error']}", file=sys.stderr)
            else:
                print(format_summary(result))
    return 1 if any("error" in result for result in results) else 0


def cmd_version(args: argparse.Namespace) -> int:
    from importlib.metadata import version

    print(version("djmesh"))
    return 0


def build_parser() -> argparse.ArgumentParser:
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

    sub = add("post", cmd_post, "sign a post and add it to the local store")
    sub.add_argument("text")
    add_passphrase(sub)
    sub.add_argument("--json", action="store_true")

    sub = add("messages", cmd_messages, "list stored messages, newest first")
    sub.add_argument("--kind")
    sub.add_argument("--author", metavar="PEER_ID")
    sub.add_argument("--limit", type=int, default=50)
    sub.add_argument("--json", action="store_true")

    sub = add("analyze", cmd_analyze, "analyse audio: tempo, beats, key, loudness, tracks, transitions")
    sub.add_argument("paths", nargs="+", metavar="PATH", help="any input FFmpeg can decode (file or URL)")
    sub.add_argument("--bpm-min", type=float, default=70.0, help="lowest tempo to report (default 70)")
    sub.add_argument("--bpm-max", type=float, default=180.0, help="highest tempo to report (default 180)")
    sub.add_argument("--json", action="store_true")

    add("version", cmd_version, "print the djmesh version")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = logging.StreamHandler()
    console.setLevel(logging.DEBUG if args.debug else logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=console.level, handlers=[console])
    try:
        args.home_obj = NodeHome.resolve(args.home)
        code: int = args.handler(args)
        return code
    except (CliError, IdentityError, ConfigError, StoreError) as exc:
        if args.debug:
            raise
        print(f"djmesh: error: {exc}", file=sys.stderr)
        return exc.code if isinstance(exc, CliError) else 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if args.debug:
            raise
        print(f"djmesh: error: {type(exc).__name__}: {exc} (run with --debug for details)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
