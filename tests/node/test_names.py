"""Display names: profile names everywhere, a short ID only to tell same-named peers apart."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from djmesh.node.names import PeerNames, clean_name, disambiguate, name_key, short_id
from djmesh.node.store import Store
from djmesh.protocol.envelope import sign
from djmesh.protocol.messages import Profile
from djmesh.protocol.peer_id import peer_id_from_public_key
from tests.protocol.battle_helpers import key

T = 1_700_000_000_000


def peer(n: int) -> str:
    return peer_id_from_public_key(bytes(key(n).verify_key))


def profile(store: Store, n: int, name: str, at: int = T) -> None:
    store.add(sign(Profile(name=name), key(n), created_at_ms=at))


def test_names_are_cleaned_to_one_line_without_control_or_format_characters() -> None:
    assert clean_name("  DJ\tAda\n\nLive ") == "DJ Ada Live"
    assert clean_name("DJ \u202eadA\u200b") == "DJ adA"  # a bidi override and a zero-width space
    assert clean_name("DJ\x85Ada\u2028") == "DJ Ada"  # C1 "next line", line separator
    assert clean_name("wait… what") == "wait... what"  # the ellipsis is reserved for short IDs
    assert clean_name("\u200b\u200d") == ""


def test_same_names_get_the_shortest_tails_that_tell_them_apart() -> None:
    a, b = "12D3KooWxxxxxxxxxxxxxxQ3fK9", "12D3KooWyyyyyyyyyyyyyyZ3fK9"
    shown = disambiguate({a: "DJ Ada", b: "dj  ada", "12D3KooWzzzzzzzzzz1234": "DJ Bob"})
    assert shown[a] == "DJ Ada (…Q3fK9)" and shown[b] == "dj  ada (…Z3fK9)"  # 4 chars would not do
    assert shown["12D3KooWzzzzzzzzzz1234"] == "DJ Bob"  # unique: no ID at all
    assert disambiguate({a: ""}) == {a: short_id(a)} == {a: "…xxxQ3fK9"}


def test_a_name_dressed_as_a_disambiguated_one_is_disambiguated_too() -> None:
    assert name_key("DJ Ada (...Q3fK9)") == name_key("\uff24\uff2a \uff21\uff24\uff21") == name_key("dj ada")
    shown = disambiguate({"12D3KooWaaaaaaaa1111": "DJ Ada", "12D3KooWbbbbbbbb2222": "DJ Ada (...1111)"})
    assert shown == {
        "12D3KooWaaaaaaaa1111": "DJ Ada (…1111)",
        "12D3KooWbbbbbbbb2222": "DJ Ada (...1111) (…2222)",
    }


@given(
    st.dictionaries(
        st.text(min_size=8, max_size=30), st.sampled_from(["", "A", "a", "B", "\uff21"]), max_size=12
    )
)
def test_every_shown_name_is_unique_among_peers_sharing_a_name(names: dict[str, str]) -> None:
    """Peer IDs here are any distinct strings of 8+ characters, names mostly clashing."""
    shown = disambiguate({p: clean_name(n) for p, n in names.items()})
    assert set(shown) == set(names)
    by_key: dict[str, list[str]] = {}
    for p, n in names.items():
        if clean_name(n):
            by_key.setdefault(name_key(clean_name(n)), []).append(p)
    for peers in by_key.values():
        assert len({shown[p] for p in peers}) == len(peers)


def test_peer_names_come_from_the_newest_profiles_in_the_store(tmp_path: Path) -> None:
    with Store(tmp_path / "store.sqlite3") as store:
        names = PeerNames(store, me=peer(1), my_name="DJ Me")
        assert names.name(peer(1)) == "DJ Me"  # no profile yet: the configured name
        assert names.name(peer(2)) == "…" + peer(2)[-8:]
        profile(store, 2, "DJ Ada")
        assert names.name(peer(2)) == "…" + peer(2)[-8:]  # the node invalidates when a profile arrives
        names.invalidate()
        assert names.name(peer(2)) == "DJ Ada" and names.name(bytes(key(2).verify_key)) == "DJ Ada"
        profile(store, 3, "DJ ADA")  # an impersonator: both are told apart now
        profile(store, 2, "DJ Ada", at=T - 1)  # an older profile does not matter
        names.invalidate()
        ada, other = names.name(peer(2)), names.name(peer(3))
        assert ada.startswith("DJ Ada (…") and other.startswith("DJ ADA (…") and ada.endswith(")")
        assert peer(2).endswith(ada[len("DJ Ada (…") : -1]) and peer(3).endswith(other[len("DJ ADA (…") : -1])
        assert names.claimed(peer(3)) == "DJ ADA"
        profile(store, 3, "DJ Bass", at=T + 1)  # renamed: Ada is alone again
        names.invalidate()
        assert names.names([peer(2), peer(3)]) == {peer(2): "DJ Ada", peer(3): "DJ Bass"}
        profile(store, 1, "DJ Me\u202e", at=T)
        names.invalidate()
        assert names.name(peer(1)) == "DJ Me"  # our own profile, cleaned


def test_find_by_name_lists_every_peer_claiming_it(tmp_path: Path) -> None:
    """`battle challenge NAME` resolves a name only when exactly one peer claims it."""
    with Store(tmp_path / "s.db") as store:
        for n, name in ((1, "DJ Ada"), (2, "dj  ada"), (3, "Bea")):
            profile(store, n, name)
        names = PeerNames(store)
        assert names.find("DJ ADA") == sorted([peer(1), peer(2)])
        assert names.find("bea") == [peer(3)]
        assert names.find("nobody") == []
