"""Fuzzing the control API and the listener offer body: any request gets one answer line, never a
crash or an internal error. Examples are drawn by hypothesis up front (bounded), then sent to one
running node."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import strategies as st

from djmesh.node.control import METHODS, ControlServer
from djmesh.node.http.listener import ListenerError, offer_sdp
from tests.helpers.fuzz import draw
from tests.helpers.fuzz import examples as fuzz_examples
from tests.helpers.network import make_node

pytestmark = [pytest.mark.timeout(600), pytest.mark.fuzz]

TOKEN = "@token@"  # replaced by the server's token
PARAMETERS = [
    "text", "links", "mentions", "peer_id", "limit", "before", "crew", "crew_id", "reply_to", "name",
    "bio", "wallets", "room", "emoji", "id", "flag", "on", "genre",
]  # fmt: skip
SAFE_METHODS = sorted(set(METHODS) - {"connect", "sync"})  # those two dial out
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=70)
    | st.sampled_from(["00" * 32, "12D3KooWBmwkafWE2fqfzS96VoTZazyDYEkSHfQGmxwaWsARUHMH", TOKEN]),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
requests = st.fixed_dictionaries(
    {
        "token": st.just(TOKEN) | json_values,
        "method": st.sampled_from(SAFE_METHODS) | json_values,
        "params": st.dictionaries(st.sampled_from(PARAMETERS), json_values, max_size=5) | json_values,
    }
)
lines = (
    requests.map(lambda r: json.dumps(r).encode())
    | st.binary(max_size=120)
    | st.integers(4000, 6000).map(lambda digits: b'{"token": ' + b"7" * digits + b"}")  # past int() limits
)


async def test_any_control_request_gets_one_answer_and_no_internal_error(tmp_path: Path) -> None:
    examples = draw(lines, fuzz_examples(250))
    async with make_node(tmp_path, "node", []) as node, ControlServer(node) as server:
        for line in examples:
            answer = await server._handle(line.replace(TOKEN.encode(), server.token.encode()))
            if isinstance(answer, AsyncIterator):
                await answer.aclose()  # type: ignore[attr-defined]
                continue
            assert isinstance(answer, dict) and isinstance(answer.get("ok"), bool), line
            json.dumps(answer)  # the answer is sendable
            if not answer["ok"]:
                error = answer["error"]
                assert isinstance(error, str) and "\n" not in error, line
                assert not error.startswith("internal error"), (line, error)


def test_any_offer_body_is_an_sdp_or_a_listener_error() -> None:
    for body in draw(
        json_values | st.fixed_dictionaries({"type": json_values, "sdp": json_values}), fuzz_examples(200)
    ):
        try:
            assert isinstance(offer_sdp(body), str)
        except ListenerError as exc:
            assert exc.status == 400
