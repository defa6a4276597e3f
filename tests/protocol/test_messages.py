from __future__ import annotations

import nacl.signing
import pytest

from djmesh.protocol import (
    MESSAGE_KINDS,
    Chat,
    CrewCreate,
    CrewMembership,
    Follow,
    InvalidPayloadError,
    Message,
    Post,
    Profile,
    Reaction,
    Unfollow,
    decode_envelope,
    sign,
)

NOW = 1_790_000_000_000
PEER = bytes(range(32))
CID = bytes(range(100, 132))

EXAMPLES: list[Message] = [
    Profile(
        name="DJ Ada",
        bio="jungle since '94",
        avatar=CID,
        links=("https://ada.example",),
        wallets=(("eth", "0x" + "ab" * 20), ("sol", "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin")),
    ),
    Post("new set tonight", links=("djmesh:battle/abc",), reply_to=CID, mentions=(PEER,)),
    Follow(PEER),
    Unfollow(PEER),
    Reaction(target=CID, emoji="🔥"),
    Chat(room="battle-7f3a", text="that transition!"),
    CrewCreate(name="Bass Collective"),
    CrewMembership(crew=CID, member=PEER, role="admin", action="add"),
]


def test_every_social_kind_is_registered() -> None:
    assert {type(m).KIND for m in EXAMPLES} <= set(MESSAGE_KINDS)
    assert {"profile", "post", "follow", "unfollow", "reaction", "chat", "crew_membership"} <= set(
        MESSAGE_KINDS
    )


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: type(m).KIND)
def test_each_kind_round_trips_through_a_signed_envelope(
    message: Message, signing_key: nacl.signing.SigningKey
) -> None:
    decoded = decode_envelope(sign(message, signing_key, created_at_ms=NOW).wire, now_ms=NOW)
    assert decoded.message == message
    assert decoded.kind == type(message).KIND


@pytest.mark.parametrize(
    ("kind", "payload"),
    [
        (Profile, {"name": ""}),
        (Profile, {"name": "x", "avatar": b"short"}),
        (Profile, {"name": "x", "links": ["a"] * 9}),
        (Profile, {"name": "x", "wallets": {"eth": 5}}),
        (Post, {"text": "hi", "mentions": [b"x" * 31]}),
        (Follow, {}),
        (Follow, {"target": "not bytes"}),
        (Reaction, {"target": CID, "emoji": "x" * 17}),
        (Chat, {"room": "has space", "text": "hi"}),
        (Chat, {"room": "r", "text": "x" * 501}),
        (CrewMembership, {"crew": CID, "member": PEER, "role": "owner", "action": "add"}),
        (CrewMembership, {"crew": CID, "member": PEER, "role": "member", "action": "ban"}),
    ],
)
def test_invalid_payloads_are_refused(kind: type[Message], payload: dict[str, object]) -> None:
    with pytest.raises(InvalidPayloadError):
        kind.parse(payload)  # type: ignore[arg-type]
