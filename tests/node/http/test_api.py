"""The JSON API and events on real nodes: battles, streams, results; bad input gets 4xx JSON, never a crash."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.http import HttpError, HttpServer, parse_http_address
from djmesh.node.http.address import HttpAddressError
from djmesh.node.http.stage import live_scores
from djmesh.node.live.service import LiveService
from djmesh.protocol.battle import BATTLES_TOPIC, Rules
from djmesh.protocol.envelope import sign
from djmesh.protocol.messages import Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav
from tests.node.live.mesh import live_nodes
from tests.protocol.battle_helpers import Battle, judged_result, key, with_winner

pytestmark = pytest.mark.timeout(90)


def peer_id_of(signing_key: Any) -> str:
    return peer_id_from_public_key(bytes(signing_key.verify_key))


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


def test_http_addresses_parse_or_say_what_is_expected() -> None:
    assert parse_http_address("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_http_address("8080") == ("127.0.0.1", 8080)
    assert parse_http_address(":0") == ("127.0.0.1", 0)
    assert parse_http_address("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_http_address("[::1]:9000") == ("::1", 9000)
    for bad, says in [("localhost:http", "HOST:PORT"), ("1.2.3.4:70000", "0..65535"), ("::1:80", "[ADDR]")]:
        with pytest.raises(HttpAddressError, match=says.replace("[", r"\[").replace("]", r"\]")):
            parse_http_address(bad)


def test_overlay_scores_are_the_verdicts_mean_until_the_agreed_result() -> None:
    verdicts = [
        {"scores": {"a": {"total": 8.0, "tempo": 9.0}, "b": {"total": 5.0, "tempo": 4.0}}},
        {"scores": {"a": {"total": 7.0, "tempo": 8.0}, "b": {"total": 6.0, "tempo": 5.0}}},
    ]
    mean, final = live_scores({"verdicts": verdicts, "result": None})
    assert not final and mean["a"]["total"] == 7.5 and mean["b"]["tempo"] == 4.5
    agreed = {"a": {"total": 7.9, "technical": 7.0}, "b": {"total": 5.1, "technical": 5.0}}
    scores, final = live_scores({"verdicts": verdicts, "result": {"scores": agreed}})
    assert final and scores == {"a": {"total": 7.9}, "b": {"total": 5.1}}  # only the criteria and total
    assert live_scores({"verdicts": [], "result": None}) == ({}, False)


async def test_battles_streams_and_bad_input(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "set.wav", 20.0)
    async with (
        bootstrap_server() as boot,
        live_nodes(tmp_path, boot, ["dj-a", "dj-b"]) as nodes,
    ):
        (a, a_live), (b, b_live) = nodes
        async with (
            BattleService(a, a_live, auto_join=False) as a_battles,
            BattleService(b, b_live, auto_join=False) as b_battles,
            HttpServer(b, live=b_live, battles=b_battles, address="127.0.0.1:0") as web,
            aiohttp.ClientSession() as session,
        ):
            assert web.url.startswith("http://127.0.0.1:") and not web.url.endswith(":0")
            status, info = await get(session, f"{web.url}/api/status")
            assert status == 200 and info["peer_id"] == b.peer_id and info["url"] == web.url
            assert (await get(session, f"{web.url}/api/battles")) == (200, [])

            await wait_until(lambda: all(n.host.mesh_peers(BATTLES_TOPIC) for n in (a, b)), what="mesh")
            rules = Rules.for_genre("house", tracks=1, set_seconds=20, committee_size=1, model=JUDGE_PIN)
            battle_id = await a_battles.announce(
                b.peer_id, DjSet(str(wav), ("One",), (0,)), rules=rules, start_in_s=60, title="API Clash"
            )
            await wait_until(lambda: battle_id in b_battles.battles, what="the challenge at B")
            status, listed = await get(session, f"{web.url}/api/battles")
            assert status == 200 and [x["battle_id"] for x in listed] == [battle_id.hex()]
            status, one = await get(session, f"{web.url}/api/battles/{battle_id.hex()}")
            assert status == 200 and one["title"] == "API Clash" and one["phase"] == "announced"
            assert one["djs"] == {"a": a.peer_id, "b": b.peer_id} and one["can_accept"] is True
            # names: ours from config.toml, A's a short ID until its profile reaches us
            assert one["names"] == {"a": "…" + a.peer_id[-8:], "b": "dj-b"}
            status, overlay = await get(session, f"{web.url}/api/overlay")
            assert (
                overlay["battle"]["battle_id"] == battle_id.hex()
                and overlay["battle"]["title"] == "API Clash"
            )
            assert [dj["peer"] for dj in overlay["djs"]] == [a.peer_id, b.peer_id]
            assert [(dj["name"], dj["tier"]) for dj in overlay["djs"]] == [
                ("…" + a.peer_id[-8:], None),
                ("dj-b", None),
            ]

            stream = await a_live.start_stream(str(wav), title="Warmup")
            await wait_until(lambda: any(s.stream_id == stream for s in b_live.streams()), what="the stream")
            status, streams = await get(session, f"{web.url}/api/streams")
            assert status == 200 and [s["title"] for s in streams] == ["Warmup"]
            assert streams[0]["dj"] == a.peer_id and streams[0]["live"] is True
            status, found = await get(session, f"{web.url}/api/streams/{stream}")
            assert status == 200 and set(found["figures"]) >= {"bpm", "key", "level_db", "streaming"}

            unknown = "00" * 32
            for path, code, says in [
                (f"/api/battles/{unknown}", 404, "unknown battle"),
                ("/api/battles/xyz", 400, "64 hex digits"),
                (f"/api/streams/{unknown}", 404, "unknown stream"),
                ("/api/streams/%00", 400, "64 hex digits"),
                ("/api/overlay?battle=zz", 400, "64 hex digits"),
                ("/api/events?stream=12", 400, "64 hex digits"),
                ("/api/results?limit=x", 400, "whole number"),
                ("/api/results?limit=0", 400, "1..500"),
                ("/api/no/such/thing", 404, "Not Found"),
            ]:
                status, body = await get(session, web.url + path)
                assert (status, set(body)) == (code, {"error"}), path
                assert says in body["error"], (path, body)
            offer = f"{web.url}/api/listen/{stream}/offer"
            for data, code, says in [
                (b"not json", 400, "must be JSON"),
                (b'{"type": "answer", "sdp": "v=0"}', 400, '"type": "offer"'),
                (b'{"type": "offer", "sdp": "v=0\\r\\n"}', 400, "no audio"),
                (json.dumps({"type": "offer", "sdp": "x" * 70_000}).encode(), 413, "Too Large"),
            ]:
                async with session.post(
                    offer, data=data, headers={"Content-Type": "application/json"}
                ) as response:
                    body = await response.json(content_type=None)
                    assert response.status == code and says in body["error"], (data[:40], body)
            well_formed = {"type": "offer", "sdp": "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"}
            async with session.post(f"{web.url}/api/listen/{unknown}/offer", json=well_formed) as response:
                assert response.status == 404 and "unknown stream" in (await response.json())["error"]
            async with session.post(f"{web.url}/api/listen/nothex/offer", json={}) as response:
                assert response.status == 400
            async with session.get(f"{web.url}/listen/nothex") as response:
                assert response.status == 400
            for page in ("/", "/overlay", f"/listen/{stream}", "/static/overlay.js", "/static/djmesh.css"):
                async with session.get(web.url + page) as response:
                    assert response.status == 200, page
            # all that, and the server still answers
            assert (await get(session, f"{web.url}/api/status"))[0] == 200
            await a_live.stop_stream(stream)
            await wait_until(
                lambda: not next(s for s in b_live.streams() if s.stream_id == stream).live, what="the end"
            )
            async with session.post(offer, json=well_formed) as response:
                assert response.status == 409 and "has ended" in (await response.json())["error"]


async def test_results_are_verified_bundles_one_per_battle(tmp_path: Path) -> None:
    battle = Battle(committee_size=4)
    honest = judged_result(battle)
    published = battle.spec.reveal_by + 60_000
    flipped = with_winner(honest, "b")
    async with bootstrap_server() as boot, make_node(tmp_path, "viewer", boot) as node:
        node.store.add(sign(Profile(name="DJ Ada"), battle.dj_a, created_at_ms=published))
        node.store.add(sign(honest, key(900), created_at_ms=published))
        node.store.add(sign(honest, key(901), created_at_ms=published + 1))  # a second member's copy
        node.store.add(sign(flipped, key(902), created_at_ms=published + 2))  # a forged winner
        async with (
            HttpServer(node, address="127.0.0.1:0") as web,
            aiohttp.ClientSession() as session,
        ):
            status, results = await get(session, f"{web.url}/api/results")
            assert status == 200 and len(results) == 1
            result = results[0]
            assert result["battle_id"] == battle.id.hex() and result["winner"] == "a"
            assert result["scores"]["a"]["total"] == 8.0 and result["scores"]["b"]["total"] == 5.0
            assert result["published_at"] in (published, published + 1)
            assert result["names"] == {"a": "DJ Ada", "b": "…" + peer_id_of(battle.dj_b)[-8:]}
            status, board = await get(session, f"{web.url}/api/leaderboard")
            assert status == 200 and len(board["house"]) == 2
            top = board["house"][0]
            assert (top["rank"], top["name"], top["tier"], top["wins"]) == (1, "DJ Ada", "Bronze", 1)
            assert top["average_score"] == 8.0 and top["peer"] == peer_id_of(battle.dj_a)
            assert (await get(session, f"{web.url}/api/leaderboard?genre=techno")) == (200, {"techno": []})
            status, ada = await get(session, f"{web.url}/api/profiles/{peer_id_of(battle.dj_a)}")
            assert status == 200 and ada["name"] == ada["display_name"] == "DJ Ada"
            record = ada["record"]
            assert (record["wins"], record["losses"], record["tier"]) == (1, 0, "Bronze")
            assert record["genres"]["house"]["rank"] == 1 and record["rating"] == top["rating"]
            status, bob = await get(session, f"{web.url}/api/profiles/{peer_id_of(battle.dj_b)}")
            assert status == 200 and bob["name"] is None and bob["record"]["losses"] == 1
            status, bad = await get(session, f"{web.url}/api/profiles/nobody")
            assert status == 400 and "not a djmesh peer ID" in bad["error"]
            # a node without live or battle services still serves what it has
            assert (await get(session, f"{web.url}/api/battles")) == (200, [])
            assert (await get(session, f"{web.url}/api/streams")) == (200, [])
            async with session.post(f"{web.url}/api/listen/{'00' * 32}/offer", json={}) as response:
                assert response.status == 503


async def test_events_push_coalesced_snapshots(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "set.wav", 20.0)
    async with (
        bootstrap_server() as boot,
        make_node(tmp_path, "dj", boot) as node,
        LiveService(node) as live,
        HttpServer(node, live=live, address="127.0.0.1:0") as web,
        aiohttp.ClientSession() as session,
    ):
        stream = await live.start_stream(str(wav), title="Solo")
        arrivals: list[float] = []
        snapshots: list[dict[str, Any]] = []
        async with session.get(f"{web.url}/api/events") as response:
            assert response.headers["Content-Type"].startswith("text/event-stream")
            started = time.monotonic()
            event = ""
            while time.monotonic() - started < 6.0:
                line = (await asyncio.wait_for(response.content.readline(), 5)).decode().rstrip("\n")
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:") and event == "overlay":
                    arrivals.append(time.monotonic() - started)
                    snapshots.append(json.loads(line[5:]))
        # With no battle, the overlay shows this node's own live stream and its analysis.
        assert snapshots[0]["djs"][0]["stream"] == stream and snapshots[0]["battle"] is None
        assert any(s["djs"][0]["streaming"] for s in snapshots)
        assert any(s["djs"][0]["bpm"] is not None for s in snapshots[-3:])
        # Sent when the figures changed (each verified segment), never more than 4 times a second.
        assert 3 <= len(arrivals) <= 6.0 / 0.25 + 2


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, make_node(tmp_path, "node", boot) as node:
        async with HttpServer(node, address="127.0.0.1:0") as first:
            port = first.url.rsplit(":", 1)[1]
            with pytest.raises(HttpError, match=f"127.0.0.1:{port}: cannot listen there"):
                async with HttpServer(node, address=f"127.0.0.1:{port}"):
                    pass
        with pytest.raises(HttpError, match="HOST:PORT"):
            HttpServer(node, address="nowhere")
