from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.config import ConfigError, NodeConfig
from djmesh.node.home import NodeHome, default_home


def test_no_file_means_defaults(tmp_path: Path) -> None:
    assert NodeConfig.load(tmp_path / "config.toml") == NodeConfig()


def test_written_config_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    config = NodeConfig(
        name='DJ "Q"', bootstrap=("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWx",), log_level="debug"
    )
    path.write_text(config.to_toml())
    assert NodeConfig.load(path) == config


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[node]\nnmae = 'typo'\n", "unknown key node.nmae"),
        ("[node]\nbootstrap = 'not a list'\n", "list of strings"),
        ("[node]\nlog_level = 'loud'\n", "log_level"),
        ("[node\n", "config.toml"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        NodeConfig.load(path)


def test_home_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJMESH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "djmesh"
    monkeypatch.setenv("DJMESH_HOME", str(tmp_path / "env"))
    assert NodeHome.resolve(None).root == tmp_path / "env"
    assert NodeHome.resolve(tmp_path / "flag").root == tmp_path / "flag"
