"""How hard the fuzz tests try: a few examples in the ordinary test run, many in CI's fuzz stage.

``DJMESH_FUZZ_EXAMPLES`` (set by ``.ci/run``'s fuzz step) scales every fuzz test's example count.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def examples(default: int) -> int:
    return int(os.environ.get("DJMESH_FUZZ_EXAMPLES", default))


def fuzz_settings(default_examples: int = 100) -> settings:
    return settings(
        max_examples=examples(default_examples),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
