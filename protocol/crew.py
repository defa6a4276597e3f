"""Crews: who is in them (a fold over signed membership messages) and their members-only posts.

Membership is decided by replaying ``crew_membership`` messages in (created_at, content ID)
order: one counts only if its author is an admin at that point. The founder (author of
``crew_create``) is the first admin. Every node that holds the same messages computes the
same crew.

Crew posts are sealed with a symmetric crew key (XSalsa20-Poly1305). An admin gives the key
to each member as a ``crew_key`` message, sealed to the member's X25519 key, derived from
their Ed25519 identity key. Removing a member calls for a new epoch (a fresh key given to
the remaining members); old epochs stay readable to those who had them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.secret
import nacl.signing
import nacl.utils

from djmesh.protocol import cbor
from djmesh.protocol.envelope import SignedEnvelope
from djmesh.protocol.errors import InvalidPayloadError, ProtocolError
from djmesh.protocol.messages import CrewCreate, CrewKey, CrewMembership, CrewPost, Post


class CrewCryptoError(ProtocolError):
    """A crew key or post could not be opened: not for us, or damaged."""


@dataclass
class CrewState:
    crew_id: bytes
    name: str
    founder: bytes
    admins: set[bytes] = field(default_factory=set)
    members: set[bytes] = field(default_factory=set)

    def is_member(self, public_key: bytes) -> bool:
        return public_key in self.members or public_key in self.admins


def fold_crew(create: SignedEnvelope, events: Iterable[SignedEnvelope]) -> CrewState:
    """The crew founded by ``create`` after applying the membership messages in ``events``."""
    if not isinstance(create.message, CrewCreate):
        raise ValueError("fold_crew needs a crew_create envelope")
    crew_id = create.content_id
    state = CrewState(crew_id, create.message.name, create.author, {create.author}, {create.author})
    memberships = [e for e in events if isinstance(e.message, CrewMembership) and e.message.crew == crew_id]
    for envelope in sorted(memberships, key=lambda e: (e.created_at_ms, e.content_id)):
        change = envelope.message
        assert isinstance(change, CrewMembership)
        if envelope.author not in state.admins:
            continue
        group = state.admins if change.role == "admin" else state.members
        if change.action == "add":
            group.add(change.member)
            state.members.add(change.member)
        else:
            group.discard(change.member)
            if change.role == "member":
                state.admins.discard(change.member)
    return state


def new_crew_key() -> bytes:
    return nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)


def _x25519_public(ed25519_public: bytes) -> nacl.public.PublicKey:
    try:
        return nacl.public.PublicKey(nacl.bindings.crypto_sign_ed25519_pk_to_curve25519(ed25519_public))
    except (nacl.exceptions.CryptoError, ValueError) as exc:
        raise CrewCryptoError("member key cannot receive sealed messages") from exc


def seal_crew_key(crew_id: bytes, member: bytes, epoch: int, key: bytes) -> CrewKey:
    sealed = nacl.public.SealedBox(_x25519_public(member)).encrypt(key)
    return CrewKey(crew=crew_id, member=member, epoch=epoch, sealed=bytes(sealed))


def open_crew_key(message: CrewKey, signing_key: nacl.signing.SigningKey) -> bytes:
    if message.member != bytes(signing_key.verify_key):
        raise CrewCryptoError("this crew key is sealed to another member")
    private = nacl.public.PrivateKey(
        nacl.bindings.crypto_sign_ed25519_sk_to_curve25519(bytes(signing_key) + bytes(signing_key.verify_key))
    )
    try:
        key = nacl.public.SealedBox(private).decrypt(message.sealed)
    except nacl.exceptions.CryptoError as exc:
        raise CrewCryptoError("crew key does not open with our key") from exc
    if len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise CrewCryptoError("crew key has the wrong size")
    return key


def seal_crew_post(crew_id: bytes, epoch: int, key: bytes, post: Post) -> CrewPost:
    plaintext = cbor.encode(dict(post.to_payload().items()))
    ciphertext = nacl.secret.SecretBox(key).encrypt(plaintext)
    return CrewPost(crew=crew_id, epoch=epoch, ciphertext=bytes(ciphertext))


def open_crew_post(message: CrewPost, key: bytes) -> Post:
    try:
        plaintext = nacl.secret.SecretBox(key).decrypt(message.ciphertext)
    except nacl.exceptions.CryptoError as exc:
        raise CrewCryptoError("crew post does not open with this key") from exc
    try:
        return Post.parse(cbor.decode(plaintext))
    except ProtocolError as exc:
        raise InvalidPayloadError(f"crew post content: {exc}") from exc
