"""How long a hostile history-sync answer stalls an honest node's event loop.

A hostile peer (a bare libp2p host) answers every sync request with a full page: as many self-signed
64 KiB envelopes with deeply nested payloads as fit in 4 MiB (the costliest messages a peer can make that
pass the signature check). An honest node (real ``Node``, real libp2p on loopback) syncs ``--pages``
pages from it while a ticker task sleeps 1 ms in a loop; each tick's lateness is the event loop's lag
(what every other task of the node, libp2p included, waits).

Printed: the lag p50/p99/max over the sync, the sync's wall time and how many envelopes were refused.

    python bench/sync_stall.py                 # --pages 1
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import nacl.signing

from djmesh.node.home import NodeHome
from djmesh.node.identity import create_identity
from djmesh.node.node import Node, NodeOptions
from djmesh.node.p2p import P2PHost
from djmesh.protocol import cbor
from djmesh.protocol.envelope import MAX_ENVELOPE_BYTES, SIGNING_CONTEXT
from djmesh.protocol.sync import MAX_SYNC_RESPONSE_BYTES, SYNC_PROTOCOL_ID, SyncRequest, SyncResponse
from djmesh.protocol.topics import author_topic

LOOPBACK = "/ip4/127.0.0.1/tcp/0"


def nested(depth: int) -> cbor.CborValue:
    return [0, 0] if depth == 0 else [nested(depth - 1), nested(depth - 1)]


def signed(key: nacl.signing.SigningKey, payload: cbor.CborValue, created_at_ms: int) -> bytes:
    unsigned = {"v": 1, "k": "post", "a": bytes(key.verify_key), "t": created_at_ms, "p": payload}
    return cbor.encode({**unsigned, "s": key.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature})


class PreEncodedEnvelopes:
    """``signed(key, payload, t)`` for many ``t`` with the payload encoded once.

    Encoding 64 KiB of nesting in Python takes ~80 ms, so an attacker that encoded each message afresh
    would throttle itself to about 12 a second whatever rate it aims at; a real one encodes once and
    only signs each copy (its cost per message: one Ed25519 signature and a copy)."""

    _MARKER = b"\xffdjmesh-bench-payload\xff"

    def __init__(self, key: nacl.signing.SigningKey, payload: cbor.CborValue) -> None:
        self._key = key
        self._payload = cbor.encode(payload)
        self._marker = cbor.encode(self._MARKER)
        if self.wire(0) != signed(key, payload, 0):  # the splice is the encoding, byte for byte
            raise AssertionError("pre-encoded envelope differs from cbor.encode's")

    def wire(self, created_at_ms: int) -> bytes:
        unsigned = {
            "v": 1,
            "k": "post",
            "a": bytes(self._key.verify_key),
            "t": created_at_ms,
            "p": self._MARKER,
        }
        body = cbor.encode(unsigned).replace(self._marker, self._payload, 1)
        signature = self._key.sign(SIGNING_CONTEXT + body).signature
        return cbor.encode({**unsigned, "s": signature}).replace(self._marker, self._payload, 1)


def hostile_payload(key: nacl.signing.SigningKey, created_at_ms: int) -> list[cbor.CborValue]:
    """Binary trees of arrays (15 deep at most), as many as fit the 64 KiB envelope limit."""
    payload: list[cbor.CborValue] = []
    for depth in range(13, -1, -1):
        while len(signed(key, [*payload, nested(depth)], created_at_ms)) <= MAX_ENVELOPE_BYTES:
            payload.append(nested(depth))
    return payload


async def run(pages: int) -> None:
    key = nacl.signing.SigningKey(bytes(32))
    now = int(time.time() * 1000)
    payload = hostile_payload(key, now)
    count = MAX_SYNC_RESPONSE_BYTES // (MAX_ENVELOPE_BYTES + 8)
    page = [signed(key, payload, now - i) for i in range(count)]  # one payload, many content IDs
    answer = SyncResponse(tuple(page), more=True)
    while len(answer.encode()) > MAX_SYNC_RESPONSE_BYTES:
        answer = SyncResponse(answer.messages[:-1], more=True)
    served = 0

    async def serve(data: bytes, peer: str) -> bytes:
        nonlocal served
        if author_topic(bytes(key.verify_key)) not in SyncRequest.decode(data).topics:
            return SyncResponse((), more=False).encode()  # the honest node's own topics at start
        served += 1
        return answer.encode() if served <= pages else SyncResponse((), more=False).encode()

    lags: list[float] = []
    stop = asyncio.Event()

    async def ticker() -> None:
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - start) * 1000 - 1.0)

    with tempfile.TemporaryDirectory() as root:
        home = NodeHome(Path(root) / "honest")
        home.ensure()
        create_identity(home.key_file, seed=bytes(range(32)))
        async with (
            P2PHost(seed=bytes(key), listen=[LOOPBACK]) as hostile,
            Node(home, options=NodeOptions(listen=[LOOPBACK], bootstrap=[])) as node,
        ):
            hostile.set_request_handler(SYNC_PROTOCOL_ID, serve, max_request_bytes=16 * 1024)
            await node.connect(hostile.listen_addrs[0])
            topic = author_topic(bytes(key.verify_key))
            await node.join_topic(topic, persist=False, sync=False)
            ticking = asyncio.ensure_future(ticker())
            await asyncio.sleep(0.2)
            lags.clear()
            started = time.perf_counter()
            await node.sync([topic])
            took = time.perf_counter() - started
            stop.set()
            await ticking
            refused = sum(node.dropped.values())
    lags.sort()
    print(
        f"{pages} page(s) of {len(answer.messages)} hostile envelopes ({len(answer.encode()) / 2**20:.1f} MiB each)"
    )
    print(
        f"{'sync s':>8} {'refused':>8} {'lag p50 ms':>11} {'lag p99 ms':>11} {'lag max ms':>11} {'ticks':>6}"
    )
    p99 = lags[min(len(lags) - 1, int(len(lags) * 0.99))] if lags else float("nan")
    print(
        f"{took:>8.2f} {refused:>8} {statistics.median(lags) if lags else float('nan'):>11.1f} "
        f"{p99:>11.1f} {max(lags, default=float('nan')):>11.1f} {len(lags):>6}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=1)
    args = parser.parse_args()
    asyncio.run(run(args.pages))


if __name__ == "__main__":
    main()
