"""The ``[solana]`` table of the node's config.toml: the Solana cluster the node's wallet pays on.

    [solana]
    rpc_url = "http://127.0.0.1:8899"

The wallet is the node home's Solana key (``wallet.wallet_path``), created on first use and sealed
with the node's passphrase. Without ``rpc_url`` the node has no Solana cluster, and the commands that
need one (`djmesh tip --chain sol`) say so.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from djmesh.ledger.solana.errors import SolanaError


class SolanaConfigError(SolanaError):
    """config.toml's [solana] table has a wrong value; the message names the file and key."""


@dataclass(frozen=True)
class SolanaConfig:
    rpc_url: str = ""

    @classmethod
    def load(cls, path: Path) -> SolanaConfig:
        """The [solana] table of ``path`` (empty when the file or the table is missing)."""
        if not path.exists():
            return cls()
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SolanaConfigError(f"{path}: cannot read it ({exc})") from exc
        table = data.get("solana", {})
        if not isinstance(table, dict):
            raise SolanaConfigError(f"{path}: solana must be a table ([solana])")
        unknown = sorted(set(table) - {"rpc_url"})
        if unknown:
            raise SolanaConfigError(f"{path}: unknown keys in [solana]: {', '.join(unknown)}")
        url = table.get("rpc_url", "")
        if not isinstance(url, str) or (url and urlparse(url).scheme not in ("http", "https")):
            raise SolanaConfigError(f"{path}: solana.rpc_url must be an http(s) URL, got {url!r}")
        return cls(rpc_url=url)
