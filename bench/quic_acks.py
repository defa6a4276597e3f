"""ACK packets and CPU per live frame on one QUIC link on loopback, at aioquic's own ACK delay and at ours.

A listener's QUIC side acknowledges the frames it gets; node/live/quic.py's ``ACK_DELAY_S`` makes one ACK
cover two 20 ms frames instead of one each. Both ends run in this process, so the CPU is theirs together.

    .venv/bin/python bench/quic_acks.py --frames 500
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import djmesh.node.live.quic as quic
from djmesh.node.live.transport import ControlMessage, Link


class _Count:
    def __init__(self) -> None:
        self.frames = 0

    def on_datagram(self, link: Link, data: bytes) -> None:
        self.frames += 1

    def on_control(self, link: Link, message: ControlMessage) -> None:
        pass

    def on_closed(self, link: Link, reason: str) -> None:
        pass


async def one(ack_delay_s: float, frames: int) -> dict[str, float]:
    quic.ACK_DELAY_S = ack_delay_s  # read as each link is made
    got = _Count()
    accepted: list[quic.QuicLink] = []

    def on_link(link: Link) -> None:
        assert isinstance(link, quic.QuicLink)
        link.handler = got
        accepted.append(link)

    transport = quic.QuicTransport()
    listener = await transport.listen("127.0.0.1", on_link)
    link = await transport.connect(listener.address, _Count())
    await asyncio.sleep(0.5)
    (server,) = accepted
    before, cpu = server._quic._packet_number, time.thread_time()
    for seq in range(frames):
        link.send_datagram(seq.to_bytes(4, "big") * 80)  # 320 bytes: 20 ms of Opus at 128 kbit/s
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    row = {
        "ack_delay_ms": ack_delay_s * 1000,
        "frames": got.frames,
        "ack_packets": server._quic._packet_number - before,
        "cpu_us_per_frame": round((time.thread_time() - cpu) / frames * 1e6),
    }
    link.close("done")
    listener.close()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--frames", type=int, default=500)
    args = parser.parse_args()
    ours = quic.ACK_DELAY_S
    for delay in (0.001, ours, 0.001, ours):  # aioquic's own, ours, twice
        print(json.dumps(asyncio.run(one(delay, args.frames))))


if __name__ == "__main__":
    main()
