"""How often each node's battle service ticks over one battle on the simulator: sleeping until the next deadline
(at most 1 s, node/battle/service.py) side by side with the old fixed 0.25 s poll. Same battle (seed 1, no
fault), virtual time; a tick is one ``Tick`` fed to a battle's machine.

    .venv/bin/python bench/battle_ticks.py
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from djmesh.node.battle.service import BattleService, DjSet
from djmesh.node.clock import now_ms, run_virtual
from djmesh.node.sim.battles import SimBattle, no_fault, play_battle, sim_rules
from tests.helpers.sets import write_wav

OLD_POLL_S = 0.25


async def count_ticks(root: Path, seed: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    sets = (
        DjSet(str(write_wav(root / "a.wav", 8.0, bpm=125.0)), ("A1", "A2"), (0, 4000)),
        DjSet(str(write_wav(root / "b.wav", 8.0, bpm=131.0)), ("B1",), (0,)),
    )
    sim = SimBattle(root / "nodes", seed)
    counts: dict[str, int] = {}
    try:
        await sim.start()
        await sim.settle()
        for name, peer in sim.peers.items():
            handle = peer.battles._handle

            async def counted(state: Any, envelope: Any, handle: Any = handle, name: str = name) -> None:
                if envelope is None:
                    counts[name] = counts.get(name, 0) + 1
                await handle(state, envelope)

            peer.battles._handle = counted  # type: ignore[method-assign]
        started = now_ms()
        row = await play_battle(sim, "no fault", no_fault, sets, sim_rules())
        return {
            "virtual_s": (now_ms() - started) / 1000,
            "ticks": sorted(counts.values()),
            "result": row["result"],
        }
    finally:
        await sim.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    rows = {}
    with tempfile.TemporaryDirectory() as root:
        rows["deadlines"] = run_virtual(count_ticks(Path(root) / "deadlines", args.seed))
    original = BattleService._sleep_until_next

    async def poll(self: BattleService) -> None:
        await asyncio.sleep(OLD_POLL_S)

    BattleService._sleep_until_next = poll  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as root:
            rows[f"poll {OLD_POLL_S} s"] = run_virtual(count_ticks(Path(root) / "poll", args.seed))
    finally:
        BattleService._sleep_until_next = original  # type: ignore[method-assign]
    for name, row in rows.items():
        print(
            f"{name:<14} ticks per node over the battle {row['ticks'][0]}-{row['ticks'][-1]}"
            f" (result {row['result']}, {row['virtual_s']:.0f} virtual s in all)"
        )


if __name__ == "__main__":
    main()
