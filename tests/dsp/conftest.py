"""Fixtures for the dsp tests: generated signals written to WAV, and the lmms loops."""

from __future__ import annotations

from pathlib import Path

import pytest

LMMS = Path("/usr/share/lmms/samples")


@pytest.fixture
def lmms_dir() -> Path:
    if not (LMMS / "beats").is_dir():
        pytest.skip("lmms-common loops not installed (apt-get install lmms-common); CI installs them")
    return LMMS
