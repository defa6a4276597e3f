"""The social features of a node: profiles, posts, follows, reactions, chat and crews.

A service on the node's kernel (``Node``: identity, store, topics, publishing, ingest), as battles and
live audio are. It keeps no state of its own: everything is read back from the signed messages in the
store (``node.views.SocialView``), and the crew keys the store holds. Every node has one
(``node.social``; ``NodeServices.social`` names the same), because what a node stores on its own
(a crew key sealed to it, the authors it follows) needs it; ``Node``'s social methods delegate here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from djmesh.node.clock import now_ms as _now_ms
from djmesh.node.errors import NodeError
from djmesh.node.events import Notification
from djmesh.node.views import FeedItem, SocialView
from djmesh.protocol import sign
from djmesh.protocol.crew import CrewCryptoError, new_crew_key, open_crew_key, seal_crew_key, seal_crew_post
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.messages import (
    Chat,
    CrewCreate,
    CrewKey,
    CrewMembership,
    Follow,
    Post,
    Profile,
    Reaction,
    Unfollow,
)
from djmesh.protocol.topics import author_topic, crew_topic, room_topic

if TYPE_CHECKING:
    from djmesh.node.node import Node

log = logging.getLogger(__name__)


class SocialService:
    """Profiles, posts, follows, reactions, chat rooms and crews, on one node (see the module docstring)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def view(self) -> SocialView:
        return SocialView(self.node.store, self.node.public_key)

    # -- what the kernel asks of us --------------------------------------------------------------

    def wanted_topics(self) -> set[str]:
        """The topics of the authors this node follows (joined when the node starts)."""
        return {author_topic(target) for target in self.view.following()}

    def on_stored(self, envelope: SignedEnvelope) -> bool:
        """A crew key sealed to us is opened and kept, and the invite notified; True when it was one
        (the kernel's other notices do not apply to it)."""
        node, message = self.node, envelope.message
        if not (isinstance(message, CrewKey) and message.member == node.public_key):
            return False
        if envelope.author == node.public_key:
            return True
        try:
            key = open_crew_key(message, node.identity.signing_key)
        except CrewCryptoError as exc:
            log.warning("crew key from %s did not open: %s", envelope.author_peer_id, exc)
            return True
        node.store.put_crew_key(message.crew, message.epoch, key)
        node.emit(Notification("crew_invite", envelope))
        return True

    # -- profiles, posts, follows, reactions -----------------------------------------------------

    async def post(
        self,
        text: str,
        *,
        links: Sequence[str] = (),
        reply_to: bytes | None = None,
        mentions: Sequence[str] = (),
    ) -> SignedEnvelope:
        keys = tuple(self.node.public_key_of(peer) for peer in mentions)
        return await self.node.publish(Post(text, links=tuple(links), reply_to=reply_to, mentions=keys))

    async def follow(self, peer_id: str) -> SignedEnvelope:
        node = self.node
        target = node.public_key_of(peer_id)
        if target == node.public_key:
            raise NodeError("you cannot follow yourself")
        envelope = await node.publish(Follow(target))
        await node.join_topic(author_topic(target), persist=False)  # kept by the follow itself
        return envelope

    async def unfollow(self, peer_id: str) -> SignedEnvelope:
        target = self.node.public_key_of(peer_id)
        envelope = await self.node.publish(Unfollow(target))
        await self.node.leave_topic(author_topic(target), persist=False)
        return envelope

    def feed(self, *, limit: int = 50, before_ms: int | None = None) -> list[FeedItem]:
        return self.view.feed(limit=limit, before_ms=before_ms)

    async def set_profile(self, profile: Profile) -> SignedEnvelope:
        return await self.node.publish(profile)

    async def publish_configured_name(self) -> SignedEnvelope | None:
        """A node named at `djmesh init --name` and without a profile of its own yet publishes one with that
        name: peers showed it by its ID until `profile set`. None when there is nothing to publish."""
        node = self.node
        name = node.config.name
        if not name or node.store.query(author=node.public_key, kind="profile", limit=1):
            return None
        try:
            return await self.set_profile(Profile(name=name))
        except (ProtocolError, NodeError) as exc:
            log.warning("no profile published from config.toml's name %r: %s", name, exc)
            return None

    async def update_profile(self, *, name: str = "", bio: str | None = None) -> SignedEnvelope:
        """Change the name (when given) and the bio (when not None), keeping the avatar and links."""
        current = self.profile()
        base = current[0] if current else Profile(name=name or self.node.config.name)
        return await self.set_profile(
            Profile(
                name=name or base.name,
                bio=base.bio if bio is None else bio,
                avatar=base.avatar,
                links=base.links,
            )
        )

    def profile(self, peer_id: str | None = None) -> tuple[Profile, int] | None:
        node = self.node
        return self.view.profile(node.public_key_of(peer_id) if peer_id else node.public_key)

    async def react(self, content_id: bytes, emoji: str) -> SignedEnvelope:
        target = self.node.store.get(content_id)
        target_author = target.envelope.author if target else None
        return await self.node.publish(Reaction(content_id, emoji, target_author=target_author))

    # -- chat ------------------------------------------------------------------------------------

    async def join_room(self, room: str) -> None:
        await self.node.join_topic(room_topic(room))

    async def chat(self, room: str, text: str) -> SignedEnvelope:
        message = Chat(room, text)
        await self.join_room(room)
        return await self.node.publish(message)

    def chat_history(self, room: str, *, limit: int = 100) -> list[SignedEnvelope]:
        return self.view.chat(room, limit=limit)

    # -- crews -----------------------------------------------------------------------------------

    async def create_crew(self, name: str, bio: str = "") -> bytes:
        node = self.node
        envelope = sign(CrewCreate(name, bio), node.identity.signing_key, created_at_ms=_now_ms())
        crew_id = envelope.content_id
        node.store.put_crew_key(crew_id, 0, new_crew_key())
        await node.join_topic(crew_topic(crew_id))
        await node.publish_signed(envelope)
        return crew_id

    def _admin_crew(self, crew_id: bytes) -> tuple[int, bytes]:
        state = self.view.crew(crew_id)
        if state is None:
            raise NodeError(f"unknown crew {crew_id.hex()}")
        if self.node.public_key not in state.admins:
            raise NodeError("only a crew admin can do that")
        keys = self.node.store.crew_keys(crew_id)
        if not keys:
            raise NodeError("this node does not hold the crew key")
        epoch = max(keys)
        return epoch, keys[epoch]

    async def invite(self, crew_id: bytes, peer_id: str) -> None:
        """Add ``peer_id`` to the crew and hand them the crew key, sealed to their key."""
        epoch, key = self._admin_crew(crew_id)
        member = self.node.public_key_of(peer_id)
        await self.node.publish(CrewMembership(crew_id, member, role="member", action="add"))
        await self.node.publish(seal_crew_key(crew_id, member, epoch, key))

    async def join_crew(self, crew_id: bytes) -> None:
        topic = crew_topic(crew_id)
        await self.node.join_topic(topic, sync=False)
        await self.node.catch_up([topic])

    async def crew_post(self, crew_id: bytes, text: str) -> SignedEnvelope:
        node = self.node
        state = self.view.crew(crew_id)
        keys = node.store.crew_keys(crew_id)
        if state is None or not state.is_member(node.public_key) or not keys:
            raise NodeError("you are not a member of that crew (or its key has not reached you yet)")
        epoch = max(keys)
        return await node.publish(seal_crew_post(crew_id, epoch, keys[epoch], Post(text)))

    def crew_feed(self, crew_id: bytes, *, limit: int = 50) -> list[FeedItem]:
        return self.view.crew_feed(crew_id, limit=limit)
