from __future__ import annotations

from pathlib import Path

import pytest

from djmesh.node.config import ConfigError, IceServer, LiveConfig, NodeConfig, WebRtcConfig
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
        ("[live]\nverified_playout = 'yes'\n", "live.verified_playout must be true or false"),
        ("[live]\nverified = true\n", "unknown key live.verified"),
        ("live = 'on'\n", r"\[live\] must be a table"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        NodeConfig.load(path)


def test_verified_playout_is_read_from_the_live_table_and_written_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('[node]\nname = "fan"\n\n[live]\nverified_playout = true\n')
    config = NodeConfig.load(path)
    assert config.live == LiveConfig(verified_playout=True) and config.name == "fan"
    assert config.to_json()["live"] == {"verified_playout": True}
    path.write_text(config.to_toml())
    assert NodeConfig.load(path) == config
    assert "[live]" not in NodeConfig().to_toml()  # the default needs no table


def test_home_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJMESH_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_home() == tmp_path / "xdg" / "djmesh"
    monkeypatch.setenv("DJMESH_HOME", str(tmp_path / "env"))
    assert NodeHome.resolve(None).root == tmp_path / "env"
    assert NodeHome.resolve(tmp_path / "flag").root == tmp_path / "flag"


WEBRTC = """
[node]
name = "DJ Ada"

[webrtc]
ice_servers = [
    { urls = ["stun:stun.example.org:3478", "stun:[2001:db8::1]"] },
    { urls = "turns:turn.example.org:443?transport=tcp", username = "ada", credential = "s3cr\\"et" },
]
"""


def test_ice_servers_are_read_validated_and_written_back(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(WEBRTC)
    config = NodeConfig.load(path)
    assert config.name == "DJ Ada"
    assert config.webrtc == WebRtcConfig(
        (
            IceServer(("stun:stun.example.org:3478", "stun:[2001:db8::1]")),
            IceServer(("turns:turn.example.org:443?transport=tcp",), "ada", 's3cr"et'),
        )
    )
    assert config.webrtc.to_json() == {
        "ice_servers": [
            {"urls": ["stun:stun.example.org:3478", "stun:[2001:db8::1]"]},
            {
                "urls": ["turns:turn.example.org:443?transport=tcp"],
                "username": "ada",
                "credential": 's3cr"et',
            },
        ]
    }
    path.write_text(config.to_toml())
    assert NodeConfig.load(path) == config  # to_toml writes the [webrtc] table back
    assert "[webrtc]" not in NodeConfig(name="x").to_toml()  # none configured: no table
    assert config.to_json()["webrtc"] == config.webrtc.to_json()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[webrtc]\nice_servers = 'stun:x'\n", r"webrtc.ice_servers must be a list of tables"),
        ("[webrtc]\nice_servers = ['stun:x']\n", r"webrtc.ice_servers\[0\] must be a table"),
        ("[webrtc]\nice_server = []\n", "unknown key webrtc.ice_server"),
        ("[webrtc]\nice_servers = [{url = 'stun:x'}]\n", r"ice_servers\[0\]: unknown key 'url'"),
        ("[webrtc]\nice_servers = [{urls = []}]\n", r"ice_servers\[0\].urls must be a URL or a list"),
        ("[webrtc]\nice_servers = [{urls = ['http://x']}]\n", "'http://x' is not a STUN or TURN URL"),
        ("[webrtc]\nice_servers = [{urls = ['stun:x:99999']}]\n", "is not a STUN or TURN URL"),
        ("[webrtc]\nice_servers = [{urls = ['stun:x?transport=udp']}]\n", "a STUN URL takes no"),
        (
            "[webrtc]\nice_servers = [{urls = ['turn:x']}]\n",
            "a TURN server needs a username and a credential",
        ),
        (
            "[webrtc]\nice_servers = [{urls = ['turn:x'], username = 'u', credential = 1}]\n",
            "credential must be",
        ),
        ('[webrtc]\nice_servers = [{urls = ["turn:x"], username = "u\\n", credential = "c"}]\n', "control"),
        ("[webrtc]\nice_servers = [" + "{urls = ['stun:x']}," * 9 + "]\n", "at most 8 servers"),
        ("webrtc = 1\n", r"\[webrtc\] must be a table"),
    ],
)
def test_bad_ice_servers_say_which_entry_and_why(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as caught:
        NodeConfig.load(path)
    assert str(path) in str(caught.value)
