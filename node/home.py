"""Where a node keeps its state: config, key, database and logs, all under one directory."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

HOME_ENV = "DJMESH_HOME"


def default_home() -> Path:
    """``$DJMESH_HOME``, else the XDG data directory (``~/.local/share/djmesh`` on Linux)."""
    from_env = os.environ.get(HOME_ENV)
    if from_env:
        return Path(from_env).expanduser()
    return Path(platformdirs.user_data_dir("djmesh", appauthor=False))


@dataclass(frozen=True)
class NodeHome:
    root: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None = None) -> NodeHome:
        return cls(Path(path).expanduser() if path else default_home())

    @property
    def config_file(self) -> Path:
        return self.root / "config.toml"

    @property
    def key_file(self) -> Path:
        return self.root / "identity.key"

    @property
    def database(self) -> Path:
        return self.root / "store.sqlite3"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    def ensure(self) -> None:
        """Create the home (private to its owner) and its log directory."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.log_dir.mkdir(exist_ok=True, mode=0o700)
