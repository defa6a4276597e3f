from __future__ import annotations

import nacl.signing
import pytest
from hypothesis import given
from hypothesis import strategies as st

from djmesh.protocol import MalformedMessageError, peer_id_from_public_key, public_key_from_peer_id


def test_peer_id_has_the_libp2p_ed25519_form(signing_key: nacl.signing.SigningKey) -> None:
    peer_id = peer_id_from_public_key(bytes(signing_key.verify_key))
    assert peer_id.startswith("12D3KooW")
    assert public_key_from_peer_id(peer_id) == bytes(signing_key.verify_key)


@given(st.binary(min_size=32, max_size=32))
def test_matches_py_libp2p(seed: bytes) -> None:
    peer = pytest.importorskip("libp2p.peer.id", reason="py-libp2p not installed")
    ed25519 = pytest.importorskip("libp2p.crypto.ed25519")
    public = bytes(nacl.signing.SigningKey(seed).verify_key)
    expected = peer.ID.from_pubkey(ed25519.Ed25519PublicKey.from_bytes(public)).to_base58()
    assert peer_id_from_public_key(public) == expected


@pytest.mark.parametrize("text", ["", "0OIl", "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N", "12D3KooW"])
def test_non_ed25519_peer_ids_are_refused(text: str) -> None:
    with pytest.raises(MalformedMessageError):
        public_key_from_peer_id(text)
