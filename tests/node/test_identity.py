from __future__ import annotations

import stat
from pathlib import Path

import pytest

from djmesh.node.identity import IdentityError, create_identity, load_identity, read_public_key
from djmesh.protocol import Post, decode_envelope, peer_id_from_public_key, sign


def test_key_file_is_private_and_reloads_to_the_same_identity(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    created = create_identity(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_identity(path)
    assert loaded.public_key == created.public_key
    assert loaded.peer_id == created.peer_id == peer_id_from_public_key(created.public_key)


def test_identity_signs_messages_others_verify(tmp_path: Path) -> None:
    identity = create_identity(tmp_path / "k")
    envelope = sign(Post("hi"), identity.signing_key, created_at_ms=1)
    assert decode_envelope(envelope.wire, now_ms=None).author_peer_id == identity.peer_id


def test_existing_key_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    original = create_identity(path)
    before = path.read_bytes()
    with pytest.raises(IdentityError, match="refusing to overwrite"):
        create_identity(path)
    assert path.read_bytes() == before
    assert load_identity(path).public_key == original.public_key


def test_encrypted_key_needs_the_right_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "identity.key"
    created = create_identity(path, passphrase=b"correct horse")
    assert created.seed not in path.read_bytes()
    with pytest.raises(IdentityError, match="encrypted"):
        load_identity(path)
    with pytest.raises(IdentityError, match="wrong passphrase"):
        load_identity(path, passphrase=b"battery staple")
    assert load_identity(path, passphrase=b"correct horse").seed == created.seed
    assert read_public_key(path) == created.public_key  # `djmesh id` needs no passphrase


@pytest.mark.parametrize("content", [b"", b"not cbor at all", b"\xa0", b"\xa1\x66format\x63xyz"])
def test_damaged_key_files_give_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "identity.key"
    path.write_bytes(content)
    with pytest.raises(IdentityError):
        load_identity(path)


def test_missing_key_says_to_run_init(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="djmesh init"):
        load_identity(tmp_path / "absent.key")
