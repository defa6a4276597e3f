"""The Settings screen's fields turned into a checked ``NodeConfig`` and written to the home's config.toml."""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from pathlib import Path

import multiaddr  # type: ignore[import-untyped]

from djmesh.node.config import LOG_LEVELS, ConfigError, NodeConfig


def split_list(text: str) -> tuple[str, ...]:
    """Addresses typed one after another, separated by commas, spaces or new lines."""
    return tuple(part for part in text.replace(",", " ").split() if part)


def check_multiaddr(text: str, what: str, *, need_peer: bool) -> None:
    try:
        address = multiaddr.Multiaddr(text)
    except Exception as exc:
        raise ConfigError(f"{what}: {text!r} is not a multiaddr ({exc})") from exc
    protocols = [p.name for p in address.protocols()]
    if need_peer and "p2p" not in protocols:
        raise ConfigError(f"{what}: {text!r} must end in /p2p/<peer ID>")
    if not need_peer and "tcp" not in protocols and "udp" not in protocols:
        raise ConfigError(f"{what}: {text!r} needs a port (/tcp/<port>)")


def config_from_form(
    current: NodeConfig, *, name: str, listen: str, bootstrap: str, log_level: str, mdns: bool
) -> NodeConfig:
    """``ConfigError`` naming the field when a value is wrong (the same checks config.toml gets)."""
    listen_addrs, bootstrap_addrs = split_list(listen), split_list(bootstrap)
    if not listen_addrs:
        raise ConfigError("listen: at least one address (the default is /ip4/0.0.0.0/tcp/0)")
    for address in listen_addrs:
        check_multiaddr(address, "listen", need_peer=False)
    for address in bootstrap_addrs:
        check_multiaddr(address, "bootstrap", need_peer=True)
    level = log_level.strip().lower()
    if level not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}")
    if len(name) > 64:
        raise ConfigError("name: at most 64 characters")
    config = replace(
        current, name=name.strip(), listen=listen_addrs, bootstrap=bootstrap_addrs, log_level=level, mdns=mdns
    )
    checked = NodeConfig.from_mapping(config.node_json(), source="settings")
    return replace(
        checked, webrtc=current.webrtc, live=current.live
    )  # tables not on the form: kept as they were


def save_config(path: Path, config: NodeConfig) -> None:
    """Atomically: a crash mid-write leaves the old file, never half a new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".toml.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.write_text(config.to_toml(), encoding="utf-8")
    os.replace(tmp, path)
