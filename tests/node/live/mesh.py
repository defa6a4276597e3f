"""Real nodes with a LiveService each, on loopback, for the live tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt

from djmesh.node.live import LiveService
from djmesh.node.live.subscription import Subscription
from djmesh.node.node import Node
from tests.helpers.network import make_node, peer_stacks, wait_until


@contextlib.asynccontextmanager
async def live_nodes(
    tmp_path: Path, boot: list[str], names: list[str], *, max_children: dict[str, int] | None = None
) -> AsyncIterator[list[tuple[Node, LiveService]]]:
    """Started nodes (all connected to the first) with a started LiveService each."""
    async with peer_stacks() as stacks:
        out = []
        for name in names:
            stack = stacks.peer()
            node = await stack.enter_async_context(make_node(tmp_path, name, boot))
            live = LiveService(node, max_children=(max_children or {}).get(name, 8))
            await stack.enter_async_context(live)
            out.append((node, live))
        first = out[0][0]
        for node, _ in out[1:]:
            await node.connect(first.listen_addrs[0])
        await wait_until(
            lambda: all(first.peer_id in {p.peer_id for p in n.peers()} for n, _ in out[1:]),
            what="every node connected to the first",
        )
        yield out


def read_audio(path: Path | str) -> npt.NDArray[np.float32]:
    """A recording as float32 (samples, channels)."""
    with av.open(str(path)) as container:
        chunks = [frame.to_ndarray() for frame in container.decode(audio=0)]
    stereo = [c.T if c.shape[0] == 2 else c.reshape(-1, 2) for c in chunks]
    data = np.concatenate(stereo).astype(np.float32)
    return data / 32768.0 if np.abs(data).max() > 2 else data


def dominant_hz(pcm: npt.NDArray[np.float32], rate: int = 48_000) -> float:
    mono = pcm.mean(axis=1) if pcm.ndim == 2 else pcm
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(mono.size)))
    return float(np.argmax(spectrum) * rate / mono.size)


def sine_purity(pcm: npt.NDArray[np.float32], hz: float, rate: int = 48_000) -> float:
    """Share of the signal's power within 20 Hz of ``hz``."""
    mono = pcm.mean(axis=1) if pcm.ndim == 2 else pcm
    power = np.abs(np.fft.rfft(mono * np.hanning(mono.size))) ** 2
    freqs = np.fft.rfftfreq(mono.size, 1 / rate)
    return float(power[np.abs(freqs - hz) < 20].sum() / power.sum())


def subscription(live: LiveService, stream_id: str) -> Subscription:
    """``live``'s subscription to ``stream_id`` (it must have one)."""
    sub = live._subscriptions.get(bytes.fromhex(stream_id))
    assert sub is not None, "not subscribed"
    return sub


def played(live: LiveService, stream_id: str) -> int:
    """Frames ``live`` has played of ``stream_id`` (0 before it subscribed)."""
    sub = live._subscriptions.get(bytes.fromhex(stream_id))
    return sub.jitter.stats.played if sub is not None else 0


async def hears(sub: Subscription, frames: int) -> None:
    """Wait until ``sub`` has received ``frames`` more frames than it has now."""
    heard = sub.received_frames
    await wait_until(lambda: sub.received_frames >= heard + frames, what=f"{frames} more frames heard")
