from __future__ import annotations

import stat
from pathlib import Path

from djmesh.protocol import public_key_from_peer_id
from tests.helpers.cli import CliRunner


def test_init_and_id(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "alice")
    created = djmesh("--home", home, "init", "--name", "Alice", "--json")
    assert created.returncode == 0, created.stderr
    peer_id = created.json()["peer_id"]
    assert peer_id.startswith("12D3KooW")
    assert stat.S_IMODE((tmp_path / "alice" / "identity.key").stat().st_mode) == 0o600
    for name in ("config.toml", "store.sqlite3", "logs"):
        assert (tmp_path / "alice" / name).exists()

    shown = djmesh("--home", home, "id", "--json")
    assert shown.json() == {
        "peer_id": peer_id,
        "public_key": public_key_from_peer_id(peer_id).hex(),
        "name": "Alice",
    }
    assert djmesh("--home", home, "id").stdout.strip() == peer_id

    assert djmesh("--home", home, "messages", "--json").json() == []


def test_init_refuses_to_overwrite(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "n")
    first = djmesh("--home", home, "init").stdout.splitlines()[-1]
    again = djmesh("--home", home, "init")
    assert again.returncode != 0
    assert "refusing to overwrite" in again.stderr
    assert "Traceback" not in again.stderr
    assert djmesh("--home", home, "id").stdout.strip() == first


def test_home_from_environment(djmesh: CliRunner, tmp_path: Path) -> None:
    djmesh.env["DJMESH_HOME"] = str(tmp_path / "envhome")
    peer_id = djmesh("init").stdout.splitlines()[-1]
    assert (tmp_path / "envhome" / "identity.key").exists()
    assert djmesh("id").stdout.strip() == peer_id


def test_default_home_is_the_xdg_data_dir(djmesh: CliRunner, tmp_path: Path) -> None:
    assert djmesh("init").returncode == 0
    assert (tmp_path / "xdg" / "djmesh" / "identity.key").exists()


def test_passphrase_file_and_environment(djmesh: CliRunner, tmp_path: Path) -> None:
    home = str(tmp_path / "enc")
    secret = tmp_path / "pass.txt"
    secret.write_text("s3cret phrase\n")
    created = djmesh("--home", home, "init", "--passphrase-file", str(secret), "--json").json()
    assert created["encrypted"] is True
    # `node` must unlock the key before it starts anything.
    locked = djmesh("--home", home, "node", "--listen", "/ip4/127.0.0.1/tcp/0")
    assert locked.returncode != 0 and "encrypted" in locked.stderr
    djmesh.env["DJMESH_PASSPHRASE"] = "wrong"
    wrong = djmesh("--home", home, "node", "--listen", "/ip4/127.0.0.1/tcp/0")
    assert wrong.returncode != 0 and "wrong passphrase" in wrong.stderr
    assert djmesh("--home", home, "id").returncode == 0  # the peer ID needs no passphrase


def test_errors_are_one_line_without_traceback(djmesh: CliRunner, tmp_path: Path) -> None:
    missing = djmesh("--home", str(tmp_path / "nothing"), "id")
    assert missing.returncode == 1
    assert missing.stderr.strip().count("\n") == 0
    assert "djmesh init" in missing.stderr
    bad_author = djmesh("--home", str(tmp_path / "nothing"), "messages", "--author", "nope")
    assert bad_author.returncode != 0 and "Traceback" not in bad_author.stderr
    with_debug = djmesh("--debug", "--home", str(tmp_path / "nothing"), "id")
    assert "Traceback" in with_debug.stderr


def test_bad_config_is_reported_not_crashed(djmesh: CliRunner, tmp_path: Path) -> None:
    home = tmp_path / "cfg"
    djmesh("--home", str(home), "init")
    (home / "config.toml").write_text("[node]\nlisten = 5\n")
    result = djmesh("--home", str(home), "config")
    assert result.returncode == 1
    assert "node.listen must be a list of strings" in result.stderr


def test_analyze_missing_file_says_it_does_not_exist(djmesh: CliRunner) -> None:
    result = djmesh("analyze", "/nonexistent.wav")
    assert result.returncode != 0
    assert "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    as_json = djmesh("analyze", "/nonexistent.wav", "--json")
    assert as_json.returncode != 0
    [entry] = as_json.json()
    assert entry["path"] == "/nonexistent.wav" and "does not exist" in entry["error"]
