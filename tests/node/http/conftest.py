"""Fixtures for the HTTP tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from aioice import ice


@pytest.fixture(autouse=True)
def fresh_mdns_responder() -> Iterator[None]:
    """Each test's event loop gets its own aioice mDNS responder (browsers send .local candidates).

    aioice keeps the responder, and the asyncio lock guarding it, in a thread-local made once per
    thread, so they stay bound to the first test's event loop; a node runs one loop for its life,
    but pytest-asyncio gives every test a new one.
    """
    yield
    vars(ice._mdns).clear()
