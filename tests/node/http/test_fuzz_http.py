"""Fuzzing the web server from the page side: any path, query, header and body a page (or anything
else that reaches the port) can send gets an answer below 500 with a JSON error, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import strategies as st
from yarl import URL

from djmesh.node.battle.service import BattleService
from djmesh.node.http import HttpServer
from djmesh.node.live.service import LiveService
from tests.helpers.fuzz import examples
from tests.helpers.network import make_node
from tests.node.test_fuzz_control import draw, json_values

pytestmark = [pytest.mark.timeout(600), pytest.mark.fuzz]

ROUTES = [
    "/api", "/api/status", "/api/battles", "/api/battles/{}", "/api/streams", "/api/streams/{}",
    "/api/results", "/api/leaderboard", "/api/profiles/{}", "/api/webrtc", "/api/overlay",
    "/api/listen/{}/offer", "/listen/{}", "/overlay", "/api/nothing/{}",
]  # fmt: skip
QUERY_KEYS = ["battle", "stream", "genre", "limit", "before", "x"]
segments = st.text(max_size=80) | st.sampled_from(["00" * 32, "ff" * 33, "12D3KooW", "..", "%00", "-1"])
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS"]),
        "route": st.sampled_from(ROUTES),
        "segment": segments,
        "query": st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=40), max_size=3),
        "content_type": st.sampled_from(["application/json", "text/plain", "application/sdp", ""]),
        "body": json_values.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=300),
    }
)


async def test_any_request_gets_an_answer_below_500(tmp_path: Path) -> None:
    drawn = draw(requests, examples(150))
    async with (
        make_node(tmp_path, "node", []) as node,
        LiveService(node) as live,
        BattleService(node, live, auto_join=False) as battles,
        HttpServer(node, live=live, battles=battles, address="127.0.0.1:0") as web,
        aiohttp.ClientSession() as session,
    ):
        for request in drawn:
            path = request["route"].format(quote(request["segment"], safe=""))
            url = URL(web.url + path, encoded=True).with_query(request["query"])
            headers = {"Content-Type": request["content_type"]} if request["content_type"] else {}
            async with session.request(
                request["method"], url, data=request["body"], headers=headers
            ) as response:
                body = await response.read()
                assert response.status < 500, (request, response.status, body[:200])
                if response.status >= 400 and path.startswith("/api"):
                    error = json.loads(body)["error"]
                    assert isinstance(error, str) and "\n" not in error, (request, error)
