"""The OBS overlay on a real battle: headless Chromium shows both DJs' live BPM, the chat and reactions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from djmesh.judge.pin import JUDGE_PIN
from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.http import HttpServer
from djmesh.node.live.service import LiveService
from djmesh.node.node import Node
from djmesh.protocol.battle import BATTLES_TOPIC, Rules
from djmesh.protocol.messages import Profile
from tests.helpers.network import bootstrap_server, make_node, wait_until
from tests.helpers.sets import write_wav
from tests.node.http.chromium import chromium_page, needs_chromium

pytestmark = pytest.mark.timeout(120)


@contextlib.asynccontextmanager
async def battle_node(
    stack: contextlib.AsyncExitStack, root: Path, name: str, boot: list[str]
) -> AsyncIterator[tuple[Node, LiveService, BattleService]]:
    node = await stack.enter_async_context(make_node(root, name, boot))
    live = await stack.enter_async_context(LiveService(node))
    battles = await stack.enter_async_context(BattleService(node, live))
    yield node, live, battles


@needs_chromium
async def test_overlay_shows_both_djs_live_bpm_chat_and_reactions_of_a_real_battle(tmp_path: Path) -> None:
    set_a = DjSet(str(write_wav(tmp_path / "a.wav", 24.0, bpm=125.0)), ("A1", "A2"), (0, 10_000))
    set_b = DjSet(str(write_wav(tmp_path / "b.wav", 24.0, bpm=128.0)), ("B1",), (0,))
    rules = Rules.for_genre(
        "house", tracks=2, set_seconds=24, committee_size=1, mode="simultaneous", model=JUDGE_PIN
    )
    async with bootstrap_server() as boot, contextlib.AsyncExitStack() as stack:
        a, _, a_battles = await stack.enter_async_context(battle_node(stack, tmp_path, "dj-a", boot))
        b, _, b_battles = await stack.enter_async_context(battle_node(stack, tmp_path, "dj-b", boot))
        viewer, viewer_live, viewer_battles = await stack.enter_async_context(
            battle_node(stack, tmp_path, "viewer", boot)
        )
        await wait_until(
            lambda: all(n.host.mesh_peers(BATTLES_TOPIC) for n in (a, b, viewer)), what="the battles mesh"
        )
        await b.set_profile(Profile(name="DJ Bravo"))
        await viewer.follow(b.peer_id)  # B's profile and reactions reach the viewer
        web = await stack.enter_async_context(
            HttpServer(viewer, live=viewer_live, battles=viewer_battles, address="127.0.0.1:0")
        )
        battle_id = await a_battles.announce(
            b.peer_id, set_a, rules=rules, start_in_s=4, accept_s=2, title="Overlay Clash"
        )
        await wait_until(lambda: battle_id in b_battles.battles, what="the challenge at B")
        await b_battles.accept(battle_id, set_b)
        page = await stack.enter_async_context(chromium_page(f"{web.url}/overlay"))
        await page.wait_for(
            "document.getElementById('title').textContent.startsWith('Overlay Clash')",
            what="the battle title",
        )
        bpm_of = "Number(document.querySelector('.dj[data-side=\"{}\"] .bpm').dataset.value)"
        await page.wait_for(f"Math.abs({bpm_of.format('a')} - 125) < 2.5", timeout=40, what="DJ A's BPM")
        await page.wait_for(f"Math.abs({bpm_of.format('b')} - 128) < 2.5", timeout=20, what="DJ B's BPM")
        assert await page.evaluate("document.getElementById('phase').textContent") == "LIVE"
        name_of = "document.querySelector('.dj[data-side=\"{}\"] .name').textContent"
        # no profile known: the ID's tail (the ellipsis no profile name can contain)
        assert await page.evaluate(name_of.format("a")) == "…" + a.peer_id[-8:]
        await page.wait_for(f"{name_of.format('b')} === 'DJ Bravo'", what="B's profile name")
        await b.react(battle_id, "🔥")
        await b.chat(f"battle-{battle_id.hex()[:16]}", "what a roller")
        await page.wait_for(
            "document.getElementById('chat').textContent.includes('DJ Bravo: what a roller')",
            timeout=30,
            what="the chat line in the ticker",
        )
        await page.wait_for(
            "document.querySelector('.reaction[data-emoji=\"🔥\"]')?.textContent === '🔥 1'",
            timeout=30,
            what="the reaction",
        )
        # Scores appear once verdicts are revealed; the page's renderer marks the winner's total.
        # rendered and read in one script: the live battle's own updates may redraw #scores in between
        scores = (
            "djmesh.renderScores(document.getElementById('scores'),"
            " [{side: 'a', scores: {beatmatch: 8.1, total: 7.5}}, {side: 'b', scores: {beatmatch: 6, total: 6.25}}],"
            " {winner: 'a'}); [[...document.querySelectorAll('#scores tr')].map(r => [...r.cells].map(c => c.textContent).join(' ')),"
            " document.querySelector('#scores td.winner').textContent]"
        )
        rows, winner = await page.evaluate(scores)
        assert rows == [" A B", "beatmatch 8.10 6.00", "total 7.50 6.25"]
        assert winner == "7.50"
