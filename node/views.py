"""Read-side views of the store: feed, follows, profiles, crews, chat (notifications: ``notices``).

Everything here is derived from signed messages on every read, so there is no second
copy of social state to drift from the log (and a restart cannot lose any of it).
"""

from __future__ import annotations

from dataclasses import dataclass

from djmesh.node.store import Store
from djmesh.protocol import peer_id_from_public_key
from djmesh.protocol.crew import CrewCryptoError, CrewState, fold_crew, open_crew_post
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import Chat, CrewCreate, CrewPost, Follow, Post, Profile, Unfollow
from djmesh.protocol.topics import author_topic, crew_topic, room_topic


@dataclass(frozen=True)
class FeedItem:
    id: str
    author: str
    text: str
    created_at: int
    links: tuple[str, ...] = ()
    reply_to: str | None = None

    @classmethod
    def of(cls, envelope: SignedEnvelope, post: Post) -> FeedItem:
        return cls(
            id=envelope.content_id.hex(),
            author=peer_id_from_public_key(envelope.author),
            text=post.text,
            created_at=envelope.created_at_ms,
            links=post.links,
            reply_to=post.reply_to.hex() if post.reply_to else None,
        )


class SocialView:
    def __init__(self, store: Store, me: bytes) -> None:
        self.store = store
        self.me = me

    def hidden(self) -> set[bytes]:
        return self.store.flagged("mute") | self.store.flagged("block")

    def following(self, who: bytes | None = None) -> set[bytes]:
        """Targets whose newest follow/unfollow by ``who`` is a follow."""
        who = who or self.me
        latest: dict[bytes, tuple[int, bytes, bool]] = {}
        for stored in self.store.query(author=who, kind="follow", limit=100_000) + self.store.query(
            author=who, kind="unfollow", limit=100_000
        ):
            envelope = stored.envelope
            message = envelope.message
            assert isinstance(message, Follow | Unfollow)
            stamp = (envelope.created_at_ms, envelope.content_id, isinstance(message, Follow))
            if message.target not in latest or stamp[:2] > latest[message.target][:2]:
                latest[message.target] = stamp
        return {target for target, (_, _, follows) in latest.items() if follows}

    def feed(self, *, limit: int = 50, before_ms: int | None = None) -> list[FeedItem]:
        """Posts by the people we follow and ourselves, newest first; page with ``before_ms``."""
        hidden = self.hidden()
        authors = (self.following() | {self.me}) - hidden
        topics = [author_topic(author) for author in sorted(authors)]
        envelopes = self.store.by_topics(
            topics, kinds=("post",), before_ms=before_ms, limit=limit, newest_first=True
        )
        return [
            FeedItem.of(e, e.message)
            for e in envelopes
            if isinstance(e.message, Post) and e.author in authors
        ]

    def profile(self, who: bytes) -> tuple[Profile, int] | None:
        newest = self.store.query(author=who, kind="profile", limit=1)
        if not newest or not isinstance(newest[0].envelope.message, Profile):
            return None
        return newest[0].envelope.message, newest[0].envelope.created_at_ms

    def chat(self, room: str, *, limit: int = 100) -> list[SignedEnvelope]:
        hidden = self.hidden()
        envelopes = self.store.by_topics([room_topic(room)], kinds=("chat",), limit=limit, newest_first=True)
        return [e for e in reversed(envelopes) if isinstance(e.message, Chat) and e.author not in hidden]

    def crew(self, crew_id: bytes) -> CrewState | None:
        messages = self.store.by_topics([crew_topic(crew_id)], limit=100_000)
        create = next(
            (e for e in messages if isinstance(e.message, CrewCreate) and e.content_id == crew_id), None
        )
        if create is None:
            stored = self.store.get(crew_id)
            if stored is None or not isinstance(stored.envelope.message, CrewCreate):
                return None
            create = stored.envelope
        return fold_crew(create, messages)

    def crews(self) -> list[CrewState]:
        states = []
        for topic in self.store.subscriptions():
            if topic.startswith(crew_topic(b"")):
                state = self.crew(bytes.fromhex(topic.rsplit("/", 1)[1]))
                if state is not None:
                    states.append(state)
        return states

    def crew_feed(self, crew_id: bytes, *, limit: int = 50) -> list[FeedItem]:
        """Crew posts by current members that our crew keys open, newest first."""
        state = self.crew(crew_id)
        if state is None:
            return []
        keys = self.store.crew_keys(crew_id)
        items = []
        for envelope in self.store.by_topics(
            [crew_topic(crew_id)], kinds=("crew_post",), limit=limit, newest_first=True
        ):
            message = envelope.message
            assert isinstance(message, CrewPost)
            key = keys.get(message.epoch)
            if key is None or not state.is_member(envelope.author):
                continue
            try:
                post = open_crew_post(message, key)
            except (CrewCryptoError, ProtocolError):
                continue
            items.append(FeedItem.of(envelope, post))
        return items
