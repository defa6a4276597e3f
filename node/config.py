"""Node configuration from ``config.toml``; every field has a default, so no file is needed.

    [node]
    name = "DJ Ada"
    http_hosts = ["djbox.local"]   # --http also answers to these names (always: localhost, IP addresses)
    http_max_event_streams = 32    # pages holding /api/events open at once
    store_max_mb = 1024            # message store quota: beyond it the oldest messages of others are pruned
    listen = ["/ip4/0.0.0.0/tcp/0"]
    bootstrap = ["/ip4/.../tcp/4001/p2p/12D3KooW..."]

    [live]
    verified_playout = true   # play only audio whose segment verified (~1.6 s behind the DJ instead of a few ms)

    [webrtc]   # STUN/TURN servers for browser listeners beyond the LAN (``--http``'s /listen pages)
    ice_servers = [
        { urls = ["stun:stun.example.org:3478"] },
        { urls = ["turn:turn.example.org:3478?transport=udp"], username = "dj", credential = "secret" },
    ]

The ICE servers reach both ends of a browser listener's WebRTC connection: the page (served as
``GET /api/webrtc``) and the node's own peer (aiortc, which uses the first ``stun:`` and the first
``turn:``/``turns:`` server of the list). Whoever can load the page can read the TURN credentials,
so give listeners credentials of their own (or short-lived ones), not an account's password.
Without servers a listener must reach the node directly (same machine or LAN).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")
MAX_ICE_SERVERS = 8
MAX_ICE_URLS = 8
MAX_CREDENTIAL_CHARS = 512
# RFC 7064 / 7065: stun(s):host[:port], turn(s):host[:port][?transport=udp|tcp]; host a name, IPv4 or [IPv6]
_ICE_URL = re.compile(
    r"(?P<scheme>stuns?|turns?):(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]{1,5}))?"
    r"(?:\?transport=(?P<transport>udp|tcp))?"
)


class ConfigError(ValueError):
    """config.toml is unreadable or has a wrong value; the message names the file and key."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True)
class IceServer:
    """One STUN or TURN server, as WebRTC's ``RTCIceServer`` has it."""

    urls: tuple[str, ...]
    username: str = ""
    credential: str = ""

    def to_json(self) -> dict[str, Any]:
        """The ``RTCIceServer`` dictionary a browser takes (no empty username or credential)."""
        out: dict[str, Any] = {"urls": list(self.urls)}
        if self.username:
            out["username"] = self.username
        if self.credential:
            out["credential"] = self.credential
        return out

    def to_toml(self) -> str:
        parts = [f"urls = [{', '.join(_quote(url) for url in self.urls)}]"]
        if self.username:
            parts.append(f"username = {_quote(self.username)}")
        if self.credential:
            parts.append(f"credential = {_quote(self.credential)}")
        return "{ " + ", ".join(parts) + " }"


def _ice_text(value: Any, where: str, *, source: str) -> str:
    if not isinstance(value, str) or len(value) > MAX_CREDENTIAL_CHARS:
        raise ConfigError(f"{source}: {where} must be a string of at most {MAX_CREDENTIAL_CHARS} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise ConfigError(f"{source}: {where} must not contain control characters")
    return value


def _ice_server(entry: Any, index: int, *, source: str) -> IceServer:
    where = f"webrtc.ice_servers[{index}]"
    if not isinstance(entry, dict):
        raise ConfigError(f'{source}: {where} must be a table like {{ urls = ["stun:host:3478"] }}')
    for key in entry:
        if key not in ("urls", "username", "credential"):
            raise ConfigError(f"{source}: {where}: unknown key {key!r} (known: urls, username, credential)")
    urls = entry.get("urls")
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list) or not urls or len(urls) > MAX_ICE_URLS:
        raise ConfigError(f"{source}: {where}.urls must be a URL or a list of 1 to {MAX_ICE_URLS} URLs")
    for url in urls:
        match = _ICE_URL.fullmatch(url) if isinstance(url, str) else None
        port = match.group("port") if match else None
        if match is None or (port is not None and not 1 <= int(port) <= 65535):
            raise ConfigError(
                f"{source}: {where}.urls: {url!r} is not a STUN or TURN URL"
                " (stun:HOST[:PORT], stuns:..., turn:HOST[:PORT][?transport=udp|tcp], turns:...)"
            )
        if match.group("scheme").startswith("stun") and match.group("transport"):
            raise ConfigError(f"{source}: {where}.urls: {url!r}: a STUN URL takes no ?transport")
    username = _ice_text(entry.get("username", ""), f"{where}.username", source=source)
    credential = _ice_text(entry.get("credential", ""), f"{where}.credential", source=source)
    if any(url.startswith("turn") for url in urls) and not (username and credential):
        raise ConfigError(f"{source}: {where}: a TURN server needs a username and a credential")
    return IceServer(tuple(urls), username, credential)


@dataclass(frozen=True)
class WebRtcConfig:
    """The ``[webrtc]`` table: ICE (STUN/TURN) servers for browser listeners."""

    ice_servers: tuple[IceServer, ...] = ()

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "config") -> WebRtcConfig:
        for key in data:
            if key != "ice_servers":
                raise ConfigError(f"{source}: unknown key webrtc.{key}")
        entries = data.get("ice_servers", [])
        if not isinstance(entries, list):
            raise ConfigError(
                f'{source}: webrtc.ice_servers must be a list of tables like {{ urls = ["stun:host:3478"] }}'
            )
        if len(entries) > MAX_ICE_SERVERS:
            raise ConfigError(f"{source}: webrtc.ice_servers: at most {MAX_ICE_SERVERS} servers")
        return cls(tuple(_ice_server(entry, i, source=source) for i, entry in enumerate(entries)))

    def to_json(self) -> dict[str, Any]:
        return {"ice_servers": [server.to_json() for server in self.ice_servers]}

    def to_toml(self) -> str:
        if not self.ice_servers:
            return ""
        rows = "".join(f"    {server.to_toml()},\n" for server in self.ice_servers)
        return f"[webrtc]\nice_servers = [\n{rows}]\n"


@dataclass(frozen=True)
class LiveConfig:
    """The ``[live]`` table.

    ``verified_playout``: a listener plays a frame only once its segment's signature verified, so a lying
    relay's audio is never heard, at the cost of about a segment and 0.6 s more delay (docs/PROTOCOL.md,
    *Unverified audio*). Off by default; `djmesh listen --verified-playout` asks for it per listen.
    """

    verified_playout: bool = False

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "config") -> LiveConfig:
        for key, value in data.items():
            if key != "verified_playout":
                raise ConfigError(f"{source}: unknown key live.{key} (known: verified_playout)")
            if not isinstance(value, bool):
                raise ConfigError(f"{source}: live.{key} must be true or false")
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        return {"verified_playout": self.verified_playout}

    def to_toml(self) -> str:
        if self == LiveConfig():
            return ""
        return f"[live]\nverified_playout = {'true' if self.verified_playout else 'false'}\n"


def _table(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [{name}] must be a table")
    return table


@dataclass(frozen=True)
class NodeConfig:
    name: str = ""
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    log_level: str = "info"
    max_clock_skew_s: float = 120.0
    mdns: bool = False
    # --http: names besides localhost and IP addresses the web server answers to (e.g. a LAN name),
    # and how many pages may hold /api/events open at once (see djmesh.node.http.guard)
    http_hosts: tuple[str, ...] = ()
    http_max_event_streams: int = 32
    # the message store's quota in MiB of signed messages (djmesh.node.store: oldest of others pruned first)
    store_max_mb: int = 1024
    webrtc: WebRtcConfig = field(default_factory=WebRtcConfig)  # the [webrtc] table, not a [node] key
    live: LiveConfig = field(default_factory=LiveConfig)  # the [live] table, not a [node] key

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        source = str(path)
        config = cls.from_mapping(_table(data, "node", path), source=source)
        return replace(
            config,
            webrtc=WebRtcConfig.from_mapping(_table(data, "webrtc", path), source=source),
            live=LiveConfig.from_mapping(_table(data, "live", path), source=source),
        )

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "config") -> NodeConfig:
        """The ``[node]`` table (``webrtc`` and ``live`` keep their defaults: they are tables of their own)."""
        known = {f.name: f for f in fields(cls) if f.name not in TABLES}
        values: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise ConfigError(f"{source}: unknown key node.{key}")
            default = known[key].default
            if isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"{source}: node.{key} must be true or false")
            elif isinstance(default, tuple):
                if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                    raise ConfigError(f"{source}: node.{key} must be a list of strings")
                value = tuple(value)
            elif isinstance(default, int):
                if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 10_000:
                    raise ConfigError(f"{source}: node.{key} must be a whole number in 1..10000")
            elif isinstance(default, float):
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise ConfigError(f"{source}: node.{key} must be a non-negative number")
                value = float(value)
            elif not isinstance(value, str):
                raise ConfigError(f"{source}: node.{key} must be a string")
            values[key] = value
        config = cls(**values)
        if config.log_level not in LOG_LEVELS:
            raise ConfigError(f"{source}: node.log_level must be one of {', '.join(LOG_LEVELS)}")
        return config

    def node_json(self) -> dict[str, Any]:
        """The ``[node]`` keys as JSON (what ``from_mapping`` reads back)."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name not in TABLES}

    def to_json(self) -> dict[str, Any]:
        """Everything, for `djmesh config --json`: the [node] keys, ``webrtc`` and ``live``."""
        return {**self.node_json(), "webrtc": self.webrtc.to_json(), "live": self.live.to_json()}

    def to_toml(self) -> str:
        lines = ["[node]"]
        for item in fields(self):
            if item.name in TABLES:
                continue
            value = getattr(self, item.name)
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, tuple):
                rendered = "[" + ", ".join(_quote(v) for v in value) + "]"
            elif isinstance(value, int | float):
                rendered = repr(value)
            else:
                rendered = _quote(value)
            lines.append(f"{item.name} = {rendered}")
        tables = "".join(f"\n{text}" for text in (self.live.to_toml(), self.webrtc.to_toml()) if text)
        return "\n".join(lines) + "\n" + tables


TABLES = ("webrtc", "live")  # NodeConfig fields that are tables of their own in config.toml, not [node] keys


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value
