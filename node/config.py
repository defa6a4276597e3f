"""Node configuration from ``config.toml``; every field has a default, so no file is needed."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

LOG_LEVELS = ("debug", "info", "warning", "error")


class ConfigError(ValueError):
    """config.toml is unreadable or has a wrong value; the message names the file and key."""


@dataclass(frozen=True)
class NodeConfig:
    name: str = ""
    listen: tuple[str, ...] = ("/ip4/0.0.0.0/tcp/0",)
    bootstrap: tuple[str, ...] = ()
    log_level: str = "info"
    max_clock_skew_s: float = 120.0
    mdns: bool = False

    @classmethod
    def load(cls, path: Path) -> NodeConfig:
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        return cls.from_mapping(data.get("node", {}), source=str(path))

    @classmethod
    def from_mapping(cls, data: dict[str, Any], *, source: str = "config") -> NodeConfig:
        known = {f.name: f for f in fields(cls)}
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

    def to_toml(self) -> str:
        def quote(text: str) -> str:
            return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

        lines = ["[node]"]
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool):
                rendered = "true" if value else "false"
            elif isinstance(value, tuple):
                rendered = "[" + ", ".join(quote(v) for v in value) + "]"
            elif isinstance(value, float):
                rendered = repr(value)
            else:
                rendered = quote(value)
            lines.append(f"{item.name} = {rendered}")
        return "\n".join(lines) + "\n"
