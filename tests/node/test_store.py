from __future__ import annotations

import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import nacl.signing
import pytest

from djmesh.node.store import MIGRATIONS, Store, StoreError, StoreFullError
from djmesh.protocol import Follow, Post, sign
from djmesh.protocol.topics import author_topic

NOW = 1_790_000_000_000


def test_store_is_wal_and_idempotent(tmp_path: Path, signing_key: nacl.signing.SigningKey) -> None:
    envelope = sign(Post("hello"), signing_key, created_at_ms=NOW)
    with Store(tmp_path / "db.sqlite3") as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store.add(envelope) is True
        assert store.add(envelope) is False
        assert store.count() == 1
        stored = store.get(envelope.content_id)
        assert stored is not None and stored.envelope == envelope
        assert envelope.content_id in store


def test_only_messages_from_peers_skip_the_fsync(
    tmp_path: Path, signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    def synchronous(store: Store) -> int:
        return int(store._db.execute("PRAGMA synchronous").fetchone()[0])  # 1 NORMAL, 2 FULL

    modes: list[int] = []
    path = tmp_path / "db.sqlite3"
    with Store(path) as store:
        store._db.set_trace_callback(
            lambda sql: modes.append(synchronous(store)) if sql == "COMMIT" else None
        )
        assert store.add(sign(Post("mine"), signing_key, created_at_ms=NOW))
        assert store.add_many([sign(Post("theirs"), other_key, created_at_ms=NOW)], durable=False) == 1
        store._db.set_trace_callback(None)
        assert synchronous(store) == 2  # back to FULL for whatever writes next (flags, crew keys, our own)
    assert modes == [2, 1]  # our message committed with FULL (fsync), the peer's with NORMAL
    with Store(path) as store:
        assert store.count() == 2


def test_queries_by_author_kind_and_time_newest_first(
    tmp_path: Path, signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    with Store(tmp_path / "db.sqlite3") as store:
        mine = [sign(Post(f"p{i}"), signing_key, created_at_ms=NOW + i) for i in range(5)]
        theirs = [sign(Post(f"o{i}"), other_key, created_at_ms=NOW + 10 + i) for i in range(3)]
        follow = sign(Follow(bytes(other_key.verify_key)), signing_key, created_at_ms=NOW + 20)
        assert store.add_many([*mine, *theirs, follow]) == 9
        by_me = store.query(author=bytes(signing_key.verify_key), kind="post")
        assert [m.envelope.message for m in by_me] == [Post(f"p{i}") for i in reversed(range(5))]
        page = store.query(kind="post", limit=3)
        assert [m.envelope.created_at_ms for m in page] == [NOW + 12, NOW + 11, NOW + 10]
        next_page = store.query(kind="post", limit=3, before_ms=page[-1].envelope.created_at_ms)
        assert [m.envelope.created_at_ms for m in next_page] == [NOW + 4, NOW + 3, NOW + 2]
        assert store.count(kind="follow") == 1


def test_everything_survives_a_reopen(tmp_path: Path, signing_key: nacl.signing.SigningKey) -> None:
    path = tmp_path / "db.sqlite3"
    envelopes = [sign(Post(f"p{i}"), signing_key, created_at_ms=NOW + i) for i in range(50)]
    with Store(path) as store:
        store.add_many(envelopes)
    with Store(path) as store:
        assert sorted(store.content_ids()) == sorted(e.content_id for e in envelopes)
        assert store.schema_version == len(MIGRATIONS)


def test_a_newer_schema_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    with pytest.raises(StoreError, match="upgrade djmesh"):
        Store(path)


def test_not_a_database_gives_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="cannot open store"):
        Store(path)


WRITER = textwrap.dedent(
    """
    import sys, nacl.signing
    from djmesh.node.store import Store
    from djmesh.protocol import Post, sign
    key = nacl.signing.SigningKey(bytes(32))
    store = Store(sys.argv[1])
    batch = 0
    while True:
        envelopes = [sign(Post(f"b{batch} m{i}"), key, created_at_ms=1_790_000_000_000 + batch * 1000 + i)
                     for i in range(200)]
        store.add_many(envelopes)
        print(batch, flush=True)  # acknowledged: this batch is committed
        batch += 1
    """
)


def test_sigkill_mid_batch_loses_no_committed_message(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    acknowledged = -1
    for line in writer.stdout:
        acknowledged = int(line)
        if acknowledged >= 15:
            break
    writer.send_signal(signal.SIGKILL)  # very likely inside batch 16's transaction
    writer.wait()
    with Store(path) as store:
        assert store.integrity_ok()
        texts = {m.envelope.message.text for m in store.query(kind="post", limit=100_000)}  # type: ignore[attr-defined]
    for batch in range(acknowledged + 1):
        assert {f"b{batch} m{i}" for i in range(200)} <= texts
    # Batches are atomic: every batch present is present in full.
    batches = {text.split()[0] for text in texts}
    assert len(texts) == 200 * len(batches)


def test_topic_index_serves_history_sync_and_survives_migration(
    tmp_path: Path, signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    from djmesh.protocol import Chat
    from djmesh.protocol.topics import author_topic, inbox_topic, room_topic

    path = tmp_path / "db.sqlite3"
    mention = sign(Post("hey", mentions=(bytes(other_key.verify_key),)), signing_key, created_at_ms=NOW)
    chat = sign(Chat("room-1", "gg"), signing_key, created_at_ms=NOW + 1)
    # A database written by schema 1 (before the topic index existed) is backfilled on upgrade.
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])  # type: ignore[arg-type]
        db.execute("PRAGMA user_version = 1")
        db.executemany(
            "INSERT INTO messages VALUES (?, ?, ?, ?, ?, ?)",
            [(e.content_id, e.kind, e.author, e.created_at_ms, NOW, e.wire) for e in (mention, chat)],
        )
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.by_topics([inbox_topic(bytes(other_key.verify_key))]) == [mention]
        assert store.by_topics([author_topic(bytes(signing_key.verify_key))]) == [mention]
        assert store.by_topics([room_topic("room-1")]) == [chat]
        assert store.by_topics([room_topic("room-1")], since_ms=NOW + 2) == []
        assert store.latest_on(room_topic("room-1")) == NOW + 1
        later = sign(Chat("room-1", "again"), other_key, created_at_ms=NOW + 5)
        store.add(later)
        assert store.by_topics([room_topic("room-1")], newest_first=True, limit=1) == [later]


def test_local_flags_subscriptions_and_crew_keys_persist(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with Store(path) as store:
        store.set_flag(b"\x01" * 32, "mute")
        store.set_flag(b"\x02" * 32, "block")
        store.subscribe("/djmesh/1/room/a", NOW)
        store.put_crew_key(b"\x03" * 32, 0, b"k" * 32)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # holds crew keys
    with Store(path) as store:
        assert store.flagged("mute") == {b"\x01" * 32}
        assert store.flagged("block") == {b"\x02" * 32}
        assert store.subscriptions() == ["/djmesh/1/room/a"]
        assert store.crew_keys(b"\x03" * 32) == {0: b"k" * 32}
        store.set_flag(b"\x01" * 32, "mute", on=False)
        assert store.flagged("mute") == set()


def test_a_quota_prunes_the_oldest_messages_of_others_and_never_our_own(
    tmp_path: Path, signing_key: nacl.signing.SigningKey, other_key: nacl.signing.SigningKey
) -> None:
    me = bytes(signing_key.verify_key)
    mine = [sign(Post(f"mine {i}" + "x" * 400), signing_key, created_at_ms=NOW + i) for i in range(10)]
    theirs = [sign(Post(f"theirs {i}" + "y" * 400), other_key, created_at_ms=NOW + i) for i in range(40)]
    quota = sum(len(e.wire) for e in mine) + sum(len(e.wire) for e in theirs[:20])
    with Store(tmp_path / "db.sqlite3", max_bytes=quota, keep_author=me) as store:
        store.add_many(mine, received_at_ms=NOW)
        for i, envelope in enumerate(theirs):
            store.add(envelope, received_at_ms=NOW + 1 + i)
        assert store.wire_bytes <= quota
        assert all(e.content_id in store for e in mine), "a node's own messages are never pruned"
        kept = [e for e in theirs if e.content_id in store]
        assert kept == theirs[len(theirs) - len(kept) :], "the oldest received go first"
        assert 0 < len(kept) < 20
        # their topic rows went with them: history sync serves only what is still stored
        assert store.by_topics([author_topic(bytes(other_key.verify_key))], limit=100) == kept
    with Store(tmp_path / "db.sqlite3") as store:  # the byte count is rebuilt on opening
        assert store.wire_bytes == sum(len(e.wire) for e in [*mine, *kept])


def test_a_full_disk_refuses_new_messages_and_keeps_what_is_stored(
    tmp_path: Path, signing_key: nacl.signing.SigningKey
) -> None:
    stored = [sign(Post(f"p{i}" + "z" * 1900), signing_key, created_at_ms=NOW + i) for i in range(20)]
    with Store(tmp_path / "db.sqlite3") as store:
        store.add_many(stored)
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own "disk full" (SQLITE_FULL)
        more = [sign(Post(f"q{i}" + "z" * 1900), signing_key, created_at_ms=NOW + 100 + i) for i in range(20)]
        with pytest.raises(StoreFullError, match="full"):
            store.add_many(more)
        assert store.count() == 20 and all(e.content_id not in store for e in more)
        assert [m.envelope for m in store.query(limit=100)] == sorted(stored, key=lambda e: -e.created_at_ms)
        assert store.integrity_ok()
        store._db.execute(f"PRAGMA max_page_count = {pages * 100}")  # space again
        assert store.add_many(more) == 20
