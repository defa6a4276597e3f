"""The Settings screen edits the home's config.toml, with the same checks the node applies."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Switch

from djmesh.node.config import NodeConfig
from djmesh.tui.app import DjmeshApp
from djmesh.tui.screens.settings import SettingsScreen
from djmesh.tui.settings_form import config_from_form, save_config
from tests.tui.fake import FixedBackend

BOOT = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWLz4WJZ8fJkYm1LqGZyK8u3Wt7w8Gk8ZyqEiPdyPkiu8v"


async def test_settings_saves_a_valid_config_and_refuses_a_bad_one(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(NodeConfig(name="before", max_clock_skew_s=30.0).to_toml())
    app = DjmeshApp(FixedBackend(home=str(tmp_path)), watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause(0.2)
        screen = app.screen
        assert isinstance(screen, SettingsScreen)
        assert screen.query_one("#set-name", Input).value == "before"
        screen.query_one("#set-name", Input).value = "DJ Settings"
        screen.query_one("#set-bootstrap", Input).value = "/ip4/127.0.0.1/tcp/4001"  # no /p2p/ part
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert any("must end in /p2p/" in n.message and n.severity == "error" for n in app._notifications)
        assert NodeConfig.load(path).name == "before"  # nothing written
        screen.query_one("#set-bootstrap", Input).value = BOOT
        screen.query_one("#set-listen", Input).value = "/ip4/0.0.0.0/tcp/4002, /ip6/::/tcp/4002"
        screen.query_one("#set-mdns", Switch).value = True
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
    saved = NodeConfig.load(path)
    assert saved.name == "DJ Settings" and saved.bootstrap == (BOOT,) and saved.mdns is True
    assert saved.listen == ("/ip4/0.0.0.0/tcp/4002", "/ip6/::/tcp/4002")
    assert saved.max_clock_skew_s == 30.0  # fields the form does not show are kept


async def test_settings_reports_a_broken_config_file_and_a_bad_listen_address(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text("[node]\nlog_level = 'loud'\n")
    app = DjmeshApp(FixedBackend(home=str(tmp_path)), watch_peers=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("s")
        await pilot.pause(0.2)
        screen = app.screen
        assert "log_level must be one of" in str(screen.query_one("#settings-error").render())
        screen.query_one("#set-listen", Input).value = "not-an-address"
        await pilot.press("ctrl+s")
        await pilot.pause(0.2)
        assert any("is not a multiaddr" in n.message for n in app._notifications)


def test_the_settings_form_keeps_the_ice_servers_and_the_live_table(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '[node]\nname = "DJ Ada"\n[webrtc]\nice_servers = [{ urls = ["stun:stun.example.org:3478"] }]\n'
        "[live]\nverified_playout = true\n"
    )
    current = NodeConfig.load(path)
    saved = config_from_form(
        current,
        name="DJ Ada Lovelace",
        listen="/ip4/0.0.0.0/tcp/0",
        bootstrap="",
        log_level="info",
        mdns=False,
    )
    save_config(path, saved)  # what the screen's ctrl+s does
    again = NodeConfig.load(path)
    assert again.name == "DJ Ada Lovelace" and again.webrtc == current.webrtc and again.webrtc.ice_servers
    assert again.live.verified_playout
