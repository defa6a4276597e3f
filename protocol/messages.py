"""Typed social message kinds: the payloads that travel inside a signed envelope.

Each kind is a frozen dataclass with a ``KIND`` name, ``to_payload`` and a strict
``from_payload``. Later features (battles, verdicts, streams, ledger) add their kinds with
``@register`` in their own modules; the envelope decoder refuses kinds nobody registered.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Self, TypeVar

from djmesh.protocol import schema
from djmesh.protocol.cbor import CborValue
from djmesh.protocol.errors import InvalidPayloadError


class Message:
    """Base of every payload kind."""

    KIND: ClassVar[str]
    FIELDS: ClassVar[frozenset[str]]

    def to_payload(self) -> dict[str, CborValue]:
        raise NotImplementedError

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        raise NotImplementedError

    @classmethod
    def parse(cls, value: CborValue) -> Self:
        payload = schema.as_payload(value)
        schema.only_fields(payload, set(cls.FIELDS))
        return cls.from_payload(payload)

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        """The gossip topics of this message, first its home topic; None: the social defaults.

        Kinds added by later features (streams, battles) override this next to their definition
        instead of growing a central switch in ``topics.py``.
        """
        return None


MESSAGE_KINDS: dict[str, type[Message]] = {}
_M = TypeVar("_M", bound=type[Message])


def register(cls: _M) -> _M:
    if cls.KIND in MESSAGE_KINDS:
        raise ValueError(f"message kind {cls.KIND!r} registered twice")
    MESSAGE_KINDS[cls.KIND] = cls
    return cls


def all_kinds() -> dict[str, type[Message]]:
    """``MESSAGE_KINDS`` with the kinds of every module that registers some (battles, streams, listen
    proofs) loaded: a decoder must know them all, and the light commands must not pay for them."""
    from djmesh.protocol import battle, stream  # noqa: F401  (registers their kinds)

    return MESSAGE_KINDS


#: the profile ``wallets`` key under which a peer advertises its Solana address (`djmesh tip --chain sol`)
SOLANA_WALLET = "sol"


def solana_address_key(text: str) -> bytes:
    """The 32-byte public key a Solana address (base58, canonical) names, or ``InvalidPayloadError``."""
    from djmesh.protocol.errors import MalformedMessageError
    from djmesh.protocol.peer_id import b58decode, b58encode

    try:
        raw = b58decode(text) if 32 <= len(text) <= 44 else b""
    except MalformedMessageError:
        raw = b""
    if len(raw) != 32 or b58encode(raw) != text:
        raise InvalidPayloadError(f"wallets.{SOLANA_WALLET}: {text[:64]!r} is not a Solana address")
    return raw


@register
@dataclass(frozen=True)
class Profile(Message):
    """Who an author says they are; the newest profile by created_at wins.

    ``wallets`` maps a chain to the author's address there; the Solana one (``"sol"``) must be a
    Solana address, as tips are sent to it. Other chains' entries are shown, not used.
    """

    KIND: ClassVar[str] = "profile"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"name", "bio", "avatar", "links", "wallets"})

    name: str
    bio: str = ""
    avatar: bytes | None = None
    links: tuple[str, ...] = ()
    wallets: tuple[tuple[str, str], ...] = ()

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "name": self.name,
            "bio": self.bio,
            "avatar": self.avatar,
            "links": list(self.links),
            "wallets": dict(self.wallets),
        }

    def __post_init__(self) -> None:
        # a profile this node signs is refused as another node would refuse it
        for chain, address in self.wallets:
            if chain == SOLANA_WALLET:
                solana_address_key(address)

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            name=schema.text(payload, "name", min_chars=1, max_chars=64),
            bio=schema.text(payload, "bio", max_chars=1024, default=""),
            avatar=schema.digest(payload, "avatar", optional=True),
            links=schema.text_list(payload, "links", max_items=8, max_chars=256),
            wallets=schema.text_map(payload, "wallets", max_items=8, max_chars=128),
        )


@register
@dataclass(frozen=True)
class WalletBinding(Message):
    """The author controls the EVM ``address``: ``proof`` is that key's signature naming the author.

    The newest binding by created_at wins. ``battle`` presents it on that battle's topic too, so the
    DJs of a battle with a prize escrow can map its committee to EVM addresses (protocol/wallet.py
    checks the proof; here only the shape).
    """

    KIND: ClassVar[str] = "wallet_binding"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"chain", "address", "proof", "battle"})
    CHAINS: ClassVar[tuple[str, ...]] = ("eip155",)

    address: bytes
    proof: bytes
    battle: bytes | None = None
    chain: str = "eip155"

    def to_payload(self) -> dict[str, CborValue]:
        return {"chain": self.chain, "address": self.address, "proof": self.proof, "battle": self.battle}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        address = schema.blob(payload, "address", max_bytes=20)
        if len(address) != 20 or address == bytes(20):
            raise InvalidPayloadError("address: expected a non-zero 20-byte EVM address")
        proof = schema.blob(payload, "proof", max_bytes=65)
        if len(proof) != 65 or proof[64] not in (27, 28):
            raise InvalidPayloadError("proof: expected a 65-byte r || s || v signature, v 27 or 28")
        return cls(
            address=address,
            proof=proof,
            battle=schema.digest(payload, "battle", optional=True),
            chain=schema.choice(payload, "chain", cls.CHAINS),
        )

    def route(self, author: bytes, content_id: bytes) -> tuple[str, ...] | None:
        if self.battle is None:
            return None  # the author's topic, like a profile
        from djmesh.protocol.battle import battle_topic
        from djmesh.protocol.topics import author_topic

        return (author_topic(author), battle_topic(self.battle))


@register
@dataclass(frozen=True)
class Post(Message):
    KIND: ClassVar[str] = "post"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"text", "links", "reply_to", "mentions"})

    text: str
    links: tuple[str, ...] = ()
    reply_to: bytes | None = None
    mentions: tuple[bytes, ...] = field(default=())

    def to_payload(self) -> dict[str, CborValue]:
        return {
            "text": self.text,
            "links": list(self.links),
            "reply_to": self.reply_to,
            "mentions": list(self.mentions),
        }

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            text=schema.text(payload, "text", min_chars=1, max_chars=2000),
            links=schema.text_list(payload, "links", max_items=8, max_chars=256),
            reply_to=schema.digest(payload, "reply_to", optional=True),
            mentions=schema.digest_list(payload, "mentions", max_items=16),
        )


@dataclass(frozen=True)
class _FollowEdge(Message):
    FIELDS: ClassVar[frozenset[str]] = frozenset({"target"})

    target: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"target": self.target}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(target=schema.required_digest(payload, "target"))


@register
@dataclass(frozen=True)
class Follow(_FollowEdge):
    """The author follows ``target`` (a public key); the newest follow/unfollow wins."""

    KIND: ClassVar[str] = "follow"


@register
@dataclass(frozen=True)
class Unfollow(_FollowEdge):
    KIND: ClassVar[str] = "unfollow"


@register
@dataclass(frozen=True)
class Reaction(Message):
    """A short reaction (an emoji or a word) to any message, named by content ID."""

    KIND: ClassVar[str] = "reaction"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"target", "emoji", "target_author"})

    target: bytes
    emoji: str
    # Lets the reaction reach the target's author (their inbox topic) without them following us.
    target_author: bytes | None = None

    def to_payload(self) -> dict[str, CborValue]:
        return {"target": self.target, "emoji": self.emoji, "target_author": self.target_author}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            target=schema.required_digest(payload, "target"),
            emoji=schema.text(payload, "emoji", min_chars=1, max_chars=16),
            target_author=schema.digest(payload, "target_author", optional=True),
        )


@register
@dataclass(frozen=True)
class Chat(Message):
    """A line in a chat room (battle rooms are named after their battle)."""

    KIND: ClassVar[str] = "chat"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"room", "text"})

    room: str
    text: str

    def to_payload(self) -> dict[str, CborValue]:
        return {"room": self.room, "text": self.text}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        room = schema.text(payload, "room", min_chars=1, max_chars=64)
        if not all(char.isalnum() or char in "-_.:" for char in room):
            raise InvalidPayloadError("room: only letters, digits and -_.: are allowed")
        return cls(room=room, text=schema.text(payload, "text", min_chars=1, max_chars=500))


@register
@dataclass(frozen=True)
class CrewCreate(Message):
    """Founds a crew; its author is the first admin and its content ID is the crew ID."""

    KIND: ClassVar[str] = "crew_create"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"name", "bio"})

    name: str
    bio: str = ""

    def to_payload(self) -> dict[str, CborValue]:
        return {"name": self.name, "bio": self.bio}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            name=schema.text(payload, "name", min_chars=1, max_chars=64),
            bio=schema.text(payload, "bio", max_chars=1024, default=""),
        )


@register
@dataclass(frozen=True)
class CrewMembership(Message):
    """Adds or removes a crew member; valid only when its author is an admin of the crew."""

    KIND: ClassVar[str] = "crew_membership"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"crew", "member", "role", "action"})
    ROLES: ClassVar[tuple[str, ...]] = ("admin", "member")
    ACTIONS: ClassVar[tuple[str, ...]] = ("add", "remove")

    crew: bytes
    member: bytes
    role: str = "member"
    action: str = "add"

    def to_payload(self) -> dict[str, CborValue]:
        return {"crew": self.crew, "member": self.member, "role": self.role, "action": self.action}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            crew=schema.required_digest(payload, "crew"),
            member=schema.required_digest(payload, "member"),
            role=schema.choice(payload, "role", cls.ROLES),
            action=schema.choice(payload, "action", cls.ACTIONS),
        )


@register
@dataclass(frozen=True)
class CrewKey(Message):
    """A crew admin hands ``member`` the crew's post key, sealed to the member's own key.

    Crew posts are encrypted so that a crew feed reaches members only, even though
    anyone can subscribe to a gossip topic. ``epoch`` grows when admins rotate the key.
    """

    KIND: ClassVar[str] = "crew_key"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"crew", "member", "epoch", "sealed"})

    crew: bytes
    member: bytes
    epoch: int
    sealed: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"crew": self.crew, "member": self.member, "epoch": self.epoch, "sealed": self.sealed}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            crew=schema.required_digest(payload, "crew"),
            member=schema.required_digest(payload, "member"),
            epoch=schema.integer(payload, "epoch", minimum=0, maximum=2**32),
            sealed=schema.blob(payload, "sealed", max_bytes=128),
        )


@register
@dataclass(frozen=True)
class CrewPost(Message):
    """A post visible to crew members only: a ``post`` payload encrypted with the crew key."""

    KIND: ClassVar[str] = "crew_post"
    FIELDS: ClassVar[frozenset[str]] = frozenset({"crew", "epoch", "ciphertext"})

    crew: bytes
    epoch: int
    ciphertext: bytes

    def to_payload(self) -> dict[str, CborValue]:
        return {"crew": self.crew, "epoch": self.epoch, "ciphertext": self.ciphertext}

    @classmethod
    def from_payload(cls, payload: schema.Payload) -> Self:
        return cls(
            crew=schema.required_digest(payload, "crew"),
            epoch=schema.integer(payload, "epoch", minimum=0, maximum=2**32),
            ciphertext=schema.blob(payload, "ciphertext", max_bytes=16 * 1024),
        )
