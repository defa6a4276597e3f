"""Which gossip topics a message travels on, so nodes subscribe only to what they care about.

- ``/djmesh/1/author/<peer id>``: what an author says in public (profile, posts, follows,
  reactions, crew foundings). Following someone means subscribing to their author topic.
- ``/djmesh/1/inbox/<peer id>``: copies of messages that concern that peer (mentions, new
  followers, reactions to their posts), so they reach people who do not follow the author.
- ``/djmesh/1/room/<room>``: chat rooms (each battle has one).
- ``/djmesh/1/crew/<crew id hex>``: the founding message, membership, crew keys and
  encrypted crew posts.

A message arriving on a topic it does not belong to is refused (``belongs_on``), so a
peer cannot smuggle content into topics whose subscribers did not ask for it.
"""

from __future__ import annotations

from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.messages import (
    Chat,
    CrewCreate,
    CrewKey,
    CrewMembership,
    CrewPost,
    Follow,
    Post,
    Reaction,
)
from djmesh.protocol.peer_id import peer_id_from_public_key

PREFIX = "/djmesh/1"


def author_topic(public_key: bytes) -> str:
    return f"{PREFIX}/author/{peer_id_from_public_key(public_key)}"


def inbox_topic(public_key: bytes) -> str:
    return f"{PREFIX}/inbox/{peer_id_from_public_key(public_key)}"


def room_topic(room: str) -> str:
    return f"{PREFIX}/room/{room}"


def crew_topic(crew_id: bytes) -> str:
    return f"{PREFIX}/crew/{crew_id.hex()}"


def topics_for(envelope: SignedEnvelope) -> tuple[str, ...]:
    """The topics ``envelope`` is published on; the first is its home topic."""
    message = envelope.message
    custom = message.route(envelope.author, envelope.content_id)
    if custom is not None:
        return custom
    if isinstance(message, Chat):
        return (room_topic(message.room),)
    if isinstance(message, CrewMembership | CrewKey | CrewPost):
        return (crew_topic(message.crew),)
    topics = [author_topic(envelope.author)]
    if isinstance(message, CrewCreate):
        # Joiners fold membership from the founding message, so the crew topic carries it too.
        topics.append(crew_topic(envelope.content_id))
    concerned: list[bytes] = []
    if isinstance(message, Post):
        concerned.extend(message.mentions)
    elif isinstance(message, Follow):
        concerned.append(message.target)
    elif isinstance(message, Reaction) and message.target_author is not None:
        concerned.append(message.target_author)
    for public_key in concerned:
        if public_key != envelope.author:
            topic = inbox_topic(public_key)
            if topic not in topics:
                topics.append(topic)
    return tuple(topics)


def belongs_on(envelope: SignedEnvelope, topic: str) -> bool:
    return topic in topics_for(envelope)
