"""Fixtures shared by every test package."""

from __future__ import annotations

import os
from pathlib import Path

import nacl.signing
import pytest
from hypothesis import settings

from tests.helpers.cli import CliRunner

# Shared CI machines have noisy timings: judge properties by their outcome, not their speed.
settings.register_profile("djmesh", deadline=None, print_blob=True)
settings.load_profile("djmesh")


@pytest.fixture
def signing_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes(range(32)))


@pytest.fixture
def other_key() -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes(range(1, 33)))


@pytest.fixture
def djmesh(tmp_path: Path) -> CliRunner:
    """Runs the installed `djmesh` command in a subprocess, as a user would."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJMESH_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    return CliRunner(env=env, cwd=tmp_path)
