"""What a hostile message costs to refuse, next to what a valid one costs to accept.

Rows (median and max over ``--runs`` decodes, one core):
  valid-post        a signed ~150-byte Post: the reference.
  nested-forged     64 KiB of arrays nested 15 deep (32,768 leaves), claiming an honest author's key with a
                    signature that does not verify: what any peer can send at no cost.
  nested-wrong-pub  the same payload, signed by the attacker's own key, arriving on gossip from another
                    publisher (refused: only authors publish their own messages).
  nested-selfsigned the same payload signed by the attacker and published by it: the signature holds, so
                    the payload is decoded before its schema refuses it. Its forwarder then loses
                    peer score (an invalid message), which bounds how many such messages a peer gets in.

    python bench/envelope_refusal.py            # --runs 30
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import nacl.signing

from djmesh.protocol import Post, ProtocolError, cbor, decode_envelope, sign
from djmesh.protocol.envelope import MAX_ENVELOPE_BYTES, SIGNING_CONTEXT
from djmesh.protocol.ingest import Inbox

NOW = 1_790_000_000_000


def nested(depth: int) -> cbor.CborValue:
    return [0, 0] if depth == 0 else [nested(depth - 1), nested(depth - 1)]


def hostile_payload(author: bytes, signer: nacl.signing.SigningKey) -> list[cbor.CborValue]:
    """Binary trees of arrays (15 deep at most), as many as fit the 64 KiB envelope limit."""
    payload: list[cbor.CborValue] = []
    for depth in range(13, -1, -1):
        while len(envelope([*payload, nested(depth)], author, signer)) <= MAX_ENVELOPE_BYTES:
            payload.append(nested(depth))
    return payload


def envelope(payload: cbor.CborValue, author: bytes, signer: nacl.signing.SigningKey) -> bytes:
    unsigned: dict[cbor.CborKey, cbor.CborValue] = {"v": 1, "k": "post", "a": author, "t": NOW, "p": payload}
    signature = signer.sign(SIGNING_CONTEXT + cbor.encode(unsigned)).signature
    return cbor.encode({**unsigned, "s": signature})


def timed(action: Callable[[], object], runs: int) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    honest = nacl.signing.SigningKey(bytes(range(32)))
    attacker = nacl.signing.SigningKey(bytes(32))
    payload = hostile_payload(bytes(attacker.verify_key), attacker)
    valid = sign(
        Post("a valid post, about this long", links=("https://a.example",)), honest, created_at_ms=NOW
    )
    forged = envelope(payload, bytes(honest.verify_key), attacker)
    selfsigned = envelope(payload, bytes(attacker.verify_key), attacker)
    honest_key = bytes(honest.verify_key)
    print(
        f"hostile message: {len(forged)} bytes; valid message: {len(valid.wire)} bytes; {args.runs} runs each"
    )

    def refuse(wire: bytes, publisher: bytes | None = None) -> Callable[[], object]:
        def run() -> object:
            inbox = Inbox(rate_limit=None)  # a fresh inbox: nothing cached, as for a first arrival
            return inbox.receive(wire, now_ms=NOW, publisher=publisher)

        return run

    def accept_valid() -> object:
        return decode_envelope(valid.wire, now_ms=NOW)

    for wire in (forged, selfsigned):
        try:
            decode_envelope(wire, now_ms=NOW)
        except ProtocolError:
            pass
        else:
            raise SystemExit("a hostile message was accepted")
    rows = [
        ("valid-post", accept_valid),
        ("nested-forged", refuse(forged, honest_key)),
        ("nested-wrong-pub", refuse(selfsigned, honest_key)),
        ("nested-selfsigned", refuse(selfsigned, bytes(attacker.verify_key))),
    ]
    print(f"{'row':<18} {'median ms':>10} {'max ms':>8}")
    for name, action in rows:
        median, worst = timed(action, args.runs)
        print(f"{name:<18} {median:>10.3f} {worst:>8.3f}")


if __name__ == "__main__":
    main()
