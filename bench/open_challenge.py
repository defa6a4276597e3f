"""Open challenges under a flood of takers: what a node's battle machine spends and holds.

Sans-IO (``protocol.battle.BattleMachine``, no network): N distinct DJs each send a signed
``battle_accept`` to one unbound open challenge, and, as the reference, N viewers each send a
``battle_join`` to a named battle (the cheapest message a battle takes from anyone). Envelopes are
decoded and signature-checked as a node does on receipt (``decode_envelope``). Printed side by side:
microseconds per message (decode + handle), what the machine holds afterwards, and how many binds it
asked for; then the cost of checking one ``battle_bind`` (``bound_accept``: it verifies the carried accept).

    .venv/bin/python bench/open_challenge.py             # 2,000 takers
    .venv/bin/python bench/open_challenge.py --takers 10000 --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time

import nacl.signing

from djmesh.protocol.battle import (
    BattleAccept,
    BattleAnnounce,
    BattleBind,
    BattleJoin,
    BattleMachine,
    BindTaker,
    Received,
    Rules,
    bound_accept,
)
from djmesh.protocol.committee import seed_commitment
from djmesh.protocol.envelope import SignedEnvelope, decode_envelope, sign

T0 = 1_700_000_000_000


def _key(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"bench key %d" % n).digest())


def _announce(opponent: bytes) -> SignedEnvelope:
    spec = BattleAnnounce(
        opponent=opponent,
        rules=Rules.for_genre("house", model=bytes(32)),
        accept_by=T0 + 60_000,
        join_by=T0 + 60_000,
        start_at=T0 + 120_000,
        seed_commit=seed_commitment(bytes(32)),
    )
    return sign(spec, _key(0), created_at_ms=T0)


def _feed(machine: BattleMachine, wires: list[bytes]) -> tuple[float, int]:
    """Microseconds per message (decode + handle) and the binds asked for."""
    binds = 0
    started = time.perf_counter()
    for wire in wires:
        envelope = decode_envelope(wire, now_ms=None)
        binds += sum(isinstance(a, BindTaker) for a in machine.handle(Received(envelope), T0 + 30_000))
    return (time.perf_counter() - started) * 1e6 / len(wires), binds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--takers", type=int, default=2000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    keys = [_key(1000 + i) for i in range(args.takers)]

    open_announce = _announce(b"")
    takes = [
        sign(
            BattleAccept(battle=open_announce.content_id, seed_commit=seed_commitment(bytes(32))),
            k,
            created_at_ms=T0 + 1,
        )
        for k in keys
    ]
    open_machine = BattleMachine(open_announce)
    take_us, binds = _feed(open_machine, [t.wire for t in takes])

    named_announce = _announce(bytes(_key(1).verify_key))
    joins = [sign(BattleJoin(battle=named_announce.content_id), k, created_at_ms=T0 + 1) for k in keys]
    named_machine = BattleMachine(named_announce)
    join_us, _ = _feed(named_machine, [j.wire for j in joins])

    bind = sign(
        BattleBind(battle=open_announce.content_id, accept=takes[0].wire), _key(0), created_at_ms=T0 + 2
    )
    rounds = 500
    started = time.perf_counter()
    for _ in range(rounds):
        bound_accept(bind, open_announce)
    bind_us = (time.perf_counter() - started) * 1e6 / rounds

    figures = {
        "messages": args.takers,
        "take_us": round(take_us, 1),
        "join_us_reference": round(join_us, 1),
        "takers_held": len(open_machine.takers),
        "joins_held_reference": len(named_machine.joins),
        "binds_asked": binds,
        "bind_check_us": round(bind_us, 1),
        "bind_bytes": len(bind.wire),
    }
    if args.json:
        print(json.dumps(figures))
        return
    print(
        f"{args.takers} messages from distinct keys      open challenge (takes)   named battle (joins, reference)"
    )
    print(f"  per message, decode + handle       {take_us:10.1f} us            {join_us:10.1f} us")
    print(
        f"  held by the machine afterwards     {len(open_machine.takers):10d}               {len(named_machine.joins):10d}"
    )
    print(f"  binds asked of DJ A's node         {binds:10d}")
    print(f"checking one battle_bind ({len(bind.wire)} bytes): {bind_us:.1f} us")


if __name__ == "__main__":
    main()
