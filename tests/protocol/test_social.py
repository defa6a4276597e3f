from __future__ import annotations

import contextlib

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import Chat, CrewCreate, CrewMembership, Follow, Post, Reaction, sign
from djmesh.protocol.battle import BATTLES_TOPIC, battle_topic
from djmesh.protocol.crew import (
    CrewCryptoError,
    fold_crew,
    new_crew_key,
    open_crew_key,
    open_crew_post,
    seal_crew_key,
    seal_crew_post,
)
from djmesh.protocol.errors import MalformedMessageError, ProtocolError
from djmesh.protocol.messages import CrewKey
from djmesh.protocol.sync import MAX_SYNC_LIMIT, SyncLimiter, SyncRequest, SyncResponse
from djmesh.protocol.topics import author_topic, belongs_on, crew_topic, inbox_topic, room_topic, topics_for
from tests.protocol.battle_helpers import Battle

NOW = 1_790_000_000_000


def keys(n: int) -> list[nacl.signing.SigningKey]:
    return [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(n)]


def pk(key: nacl.signing.SigningKey) -> bytes:
    return bytes(key.verify_key)


def test_posts_go_to_the_author_topic_and_mentioned_inboxes() -> None:
    alice, bob, carol = keys(3)
    post = sign(Post("hi @bob", mentions=(pk(bob), pk(alice))), alice, created_at_ms=NOW)
    assert topics_for(post) == (author_topic(pk(alice)), inbox_topic(pk(bob)))
    follow = sign(Follow(pk(carol)), alice, created_at_ms=NOW)
    assert topics_for(follow) == (author_topic(pk(alice)), inbox_topic(pk(carol)))
    reaction = sign(Reaction(b"\x01" * 32, "🔥", target_author=pk(bob)), carol, created_at_ms=NOW)
    assert inbox_topic(pk(bob)) in topics_for(reaction)
    chat = sign(Chat("battle-1", "gg"), alice, created_at_ms=NOW)
    assert topics_for(chat) == (room_topic("battle-1"),)
    assert not belongs_on(chat, author_topic(pk(alice)))
    assert not belongs_on(post, author_topic(pk(carol)))


def test_crew_membership_counts_only_when_signed_by_an_admin() -> None:
    founder, member, outsider, second_admin = keys(4)
    create = sign(CrewCreate("Bass Collective"), founder, created_at_ms=NOW)
    crew_id = create.content_id
    events = [
        sign(CrewMembership(crew_id, pk(member)), founder, created_at_ms=NOW + 1),
        sign(CrewMembership(crew_id, pk(outsider)), outsider, created_at_ms=NOW + 2),  # self-invite: ignored
        sign(CrewMembership(crew_id, pk(second_admin), role="admin"), founder, created_at_ms=NOW + 3),
        sign(CrewMembership(crew_id, pk(member), action="remove"), second_admin, created_at_ms=NOW + 4),
        sign(CrewMembership(b"\x09" * 32, pk(outsider)), founder, created_at_ms=NOW + 5),  # another crew
    ]
    state = fold_crew(create, reversed(events))  # arrival order does not matter
    assert state.admins == {pk(founder), pk(second_admin)}
    assert state.is_member(pk(second_admin)) and not state.is_member(pk(member))
    assert not state.is_member(pk(outsider))
    assert topics_for(events[0]) == (crew_topic(crew_id),)


def test_crew_posts_open_for_members_only() -> None:
    _founder, member, outsider = keys(3)
    crew_id = b"\x07" * 32
    key = new_crew_key()
    sealed = seal_crew_key(crew_id, pk(member), 0, key)
    assert open_crew_key(sealed, member) == key
    with pytest.raises(CrewCryptoError):
        open_crew_key(sealed, outsider)
    forged = CrewKey(crew_id, pk(outsider), 0, sealed.sealed)  # relabelled, still sealed to member
    with pytest.raises(CrewCryptoError):
        open_crew_key(forged, outsider)
    message = seal_crew_post(crew_id, 0, key, Post("members only"))
    assert open_crew_post(message, key) == Post("members only")
    with pytest.raises(CrewCryptoError):
        open_crew_post(message, new_crew_key())
    assert b"members only" not in message.ciphertext


def test_sync_request_and_response_round_trip_and_bounds() -> None:
    request = SyncRequest(topics=("/djmesh/1/room/a",), since_ms=NOW, limit=10)
    assert SyncRequest.decode(request.encode()) == request
    for bad in (
        SyncRequest(topics=(), since_ms=0).encode(),
        SyncRequest(topics=("t",) * 65, since_ms=0).encode(),
        SyncRequest(topics=("t",), since_ms=0, limit=MAX_SYNC_LIMIT + 1).encode(),
        SyncRequest(topics=("t",), since_ms=-1).encode(),
    ):
        with pytest.raises(MalformedMessageError):
            SyncRequest.decode(bad)
    fitted = SyncResponse.fit([b"x" * 1000] * 20, limit=5)
    assert len(fitted.messages) == 5 and fitted.more
    assert SyncResponse.decode(fitted.encode()) == fitted
    big = SyncResponse.fit([b"y" * 60_000] * 100, limit=100)
    assert len(big.encode()) <= 4 * 1024 * 1024 and big.more


@given(st.binary(max_size=300))
def test_sync_decoders_only_raise_protocol_errors(data: bytes) -> None:
    for decoder in (SyncRequest.decode, SyncResponse.decode):
        with contextlib.suppress(ProtocolError):
            decoder(data)


def test_sync_limiter_bounds_each_peer() -> None:
    limiter = SyncLimiter(burst=3, per_second=1)
    assert [limiter.allow("p", NOW) for _ in range(5)] == [True, True, True, False, False]
    assert limiter.allow("q", NOW)
    assert limiter.allow("p", NOW + 1000)


def test_a_challenge_also_travels_to_its_opponents_inbox() -> None:
    battle = Battle()
    dj_a, dj_b = pk(battle.dj_a), pk(battle.dj_b)
    assert topics_for(battle.announce) == (battle_topic(battle.id), BATTLES_TOPIC, inbox_topic(dj_b))
    assert belongs_on(battle.announce, inbox_topic(dj_b))
    assert not belongs_on(battle.announce, inbox_topic(dj_a))  # nobody else's inbox
    assert not any(t.startswith("/djmesh/1/inbox/") for t in topics_for(battle.accept))
