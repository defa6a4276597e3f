"""What an app that shows battles follows: each battle's topic and chat room, its DJs' streams, and
which of the battle service's actions change what it shows.

The TUI's in-process node uses these instead of reaching into ``protocol`` itself.
"""

from __future__ import annotations

from djmesh.node.battle.service import BattleState
from djmesh.node.battle.view import battle_room
from djmesh.node.node import Node
from djmesh.protocol.battle import Finished, PhaseChanged, Tracklist, battle_topic


async def follow_battle(node: Node, battle_id: bytes) -> None:
    """Hear a battle's messages and its chat (for this run only: not kept across restarts)."""
    await node.join_topic(battle_topic(battle_id), persist=False)
    await node.join_room(battle_room(battle_id.hex()))


def dj_streams(state: BattleState) -> dict[str, str]:
    """The live stream of each DJ whose tracklist names one: side -> stream ID (hex)."""
    streams = {}
    for side, envelope in state.machine.tracklists.items():
        message = envelope.message
        if isinstance(message, Tracklist) and message.stream:
            streams[side] = message.stream.hex()
    return streams


def repaints(action: object) -> bool:
    """A battle action that changes a battle's screen at once: a new phase, or the agreed result."""
    return isinstance(action, PhaseChanged | Finished)
