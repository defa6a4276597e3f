"""The app on real nodes: an in-process node on loopback, and the live meters on real audio."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from textual.widgets import DataTable

from djmesh.node.live.meters import SAMPLE_RATE, MeterBank
from djmesh.node.node import NodeOptions
from djmesh.tui.app import DjmeshApp
from djmesh.tui.node_backend import NodeBackend
from tests.helpers.network import LOOPBACK, bootstrap_server, make_home, make_node, wait_until

pytestmark = pytest.mark.timeout(120)


async def test_in_process_node_posts_to_a_follower_and_quits_gracefully(tmp_path: Path) -> None:
    async with bootstrap_server() as boot, make_node(tmp_path, "follower", boot) as follower:
        backend = NodeBackend(make_home(tmp_path, "tui"), NodeOptions(listen=[LOOPBACK], bootstrap=boot))
        app = DjmeshApp(backend)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(app.ready.is_set, what="the app's node to start")
            assert backend.node is not None
            me = backend.node.peer_id
            await follower.follow(me)
            await pilot.press("p")
            table = app.screen.query_one("#peers-table", DataTable)
            await wait_until(
                lambda: any(str(table.get_row_at(i)[1]) == follower.peer_id for i in range(table.row_count)),
                what="the follower on the Peers screen",
            )
            await asyncio.sleep(2)  # a GossipSub heartbeat or two to graft the mesh
            await pilot.press("f", "c", *"hello from the tui", "enter")
            await wait_until(
                lambda: "hello from the tui" in [i.text for i in follower.feed()],
                what="the post in the follower's feed",
            )
            await pilot.press("escape", "q")
            await pilot.pause()
        assert backend.node is None  # stopped before the app exited
        assert app.return_code == 0


def click_track(seconds: float, bpm: float) -> np.ndarray:
    """A stereo click on every beat, as 20 ms chunks would arrive from a stream."""
    samples = np.zeros((int(seconds * SAMPLE_RATE), 2), np.float32)
    period = int(SAMPLE_RATE * 60 / bpm)
    t = np.arange(2400) / SAMPLE_RATE
    click = (0.8 * np.sin(2 * np.pi * 1000 * t) * np.exp(-t * 60)).astype(np.float32)
    for start in range(0, samples.shape[0] - click.size, period):
        samples[start : start + click.size] += click[:, None]
    return samples


async def test_meters_analyse_a_stream_off_the_ui_thread_and_report_a_lost_stream() -> None:
    audio = click_track(10.0, 120.0)
    alerts: list[tuple[str, str]] = []
    listened = 0

    async def pcm(stream_id: str) -> AsyncIterator[np.ndarray]:
        nonlocal listened
        listened += 1
        if listened > 2:  # the relay is back: a short stretch, then the stream ends cleanly
            yield audio[:960]
            return
        for start in range(0, audio.shape[0], 960):
            yield audio[start : start + 960]
        raise ConnectionError("the relay went away")

    bank = MeterBank(pcm, lambda severity, text: alerts.append((severity, text)), retry_s=0.2)
    meter = bank.watch("ab" * 16, "DJ A")
    assert bank.watch("ab" * 16, "DJ A") is meter  # one analysis per stream however often it is asked
    await wait_until(lambda: meter.error is not None, timeout=60, what="the stream to be lost")
    assert meter.bpm is not None and abs(meter.bpm - 120.0) < 2.0
    assert not meter.streaming and meter.level_db == -90.0
    await wait_until(lambda: listened == 3, timeout=60, what="the meter to listen again, twice")
    await wait_until(lambda: meter.error is None, what="the stream back")  # the retry got audio
    assert alerts == [("warning", "Lost the stream of DJ A: the relay went away")]  # told once
    await asyncio.sleep(0.5)
    assert listened == 3  # a stream that ended is not listened to again
    await bank.close()


async def test_a_stream_cut_off_while_its_dj_is_live_is_listened_to_again() -> None:
    """A late payment or a lost relay ends our audio, not the stream: the meter listens again."""
    audio = click_track(4.0, 120.0)
    alerts: list[tuple[str, str]] = []
    live = {"ab" * 16: True}
    listened = 0

    async def pcm(stream_id: str) -> AsyncIterator[np.ndarray]:
        nonlocal listened
        listened += 1
        for start in range(0, audio.shape[0], 960):
            yield audio[start : start + 960]
        if listened == 2:
            live[stream_id] = False  # this time the DJ stopped

    bank = MeterBank(
        pcm, lambda severity, text: alerts.append((severity, text)), is_live=live.get, retry_s=0.2
    )
    meter = bank.watch("ab" * 16, "DJ A")
    await wait_until(lambda: listened == 2, timeout=60, what="the meter to listen again")
    await wait_until(lambda: not meter.streaming and not live["ab" * 16], what="the stream's end")
    await asyncio.sleep(1.0)  # five retry periods
    assert listened == 2  # an ended stream is not listened to again ...
    assert alerts == [("warning", "Lost the stream of DJ A: the stream stopped reaching us")]  # ... nor lost
    await bank.close()


async def test_a_stream_that_comes_and_goes_in_short_stretches_still_shows_its_tempo() -> None:
    """A loaded relay or a late voucher cuts the audio every few seconds; each stretch is shorter than
    the tempo's 4 s of history, so an analysis started over at each one would never show a BPM."""
    audio = click_track(12.0, 120.0)
    stretch = int(2.5 * SAMPLE_RATE)
    live = {"ab" * 16: True}
    listened = 0

    async def pcm(stream_id: str) -> AsyncIterator[np.ndarray]:
        nonlocal listened
        start = listened * stretch
        listened += 1
        if start + stretch >= audio.shape[0]:
            live[stream_id] = False
        for at in range(start, min(start + stretch, audio.shape[0]), 960):
            yield audio[at : at + 960]
        raise ConnectionError("cut off")

    bank = MeterBank(pcm, lambda severity, text: None, is_live=live.get, retry_s=0.05)
    meter = bank.watch("ab" * 16, "DJ A")
    await wait_until(lambda: not live["ab" * 16] and not meter.streaming, timeout=60, what="the stream's end")
    assert listened >= 3
    assert meter.bpm is not None and abs(meter.bpm - 120.0) < 2.0
    await bank.close()
