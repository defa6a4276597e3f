"""The node's SQLite store: an append-only log of signed messages, keyed by content ID.

WAL mode with synchronous=NORMAL would lose the last commits on power failure, so the node's own
messages are written with FULL: a batch acknowledged to the caller survives a crash. Messages from
peers (``durable=False``) are written with NORMAL: their commit does not wait for the disk (an fsync
took tens of ms on a busy machine, on the event loop, for every gossip message); a power failure may
lose the last of them (never corrupt the database), and history sync fetches them again. Inserts are idempotent (the same
message arriving by gossip and by history sync is stored once). The schema is versioned
with ``PRAGMA user_version`` and upgraded by ordered migrations.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from djmesh.node.clock import now_ms
from djmesh.protocol.envelope import EnvelopeCache, SignedEnvelope, decode_envelope
from djmesh.protocol.errors import ProtocolError
from djmesh.protocol.topics import topics_for

log = logging.getLogger(__name__)

Migration = str | Callable[[sqlite3.Connection], None]


def _backfill_topics(db: sqlite3.Connection) -> None:
    for content_id, wire in db.execute("SELECT content_id, wire FROM messages").fetchall():
        try:
            envelope = decode_envelope(bytes(wire), now_ms=None)
        except ProtocolError:
            continue
        db.executemany(
            "INSERT OR IGNORE INTO message_topics (topic, created_at, content_id) VALUES (?, ?, ?)",
            [(topic, envelope.created_at_ms, content_id) for topic in topics_for(envelope)],
        )


# Migration N upgrades a database from user_version N to N + 1. Append only; never edit.
MIGRATIONS: tuple[Migration, ...] = (
    """
    CREATE TABLE messages (
        content_id  BLOB PRIMARY KEY CHECK (length(content_id) = 32),
        kind        TEXT NOT NULL,
        author      BLOB NOT NULL CHECK (length(author) = 32),
        created_at  INTEGER NOT NULL,
        received_at INTEGER NOT NULL,
        wire        BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX messages_by_author ON messages (author, created_at);
    CREATE INDEX messages_by_kind ON messages (kind, created_at);
    CREATE INDEX messages_by_time ON messages (created_at);
    """,
    """
    CREATE TABLE message_topics (
        topic       TEXT NOT NULL,
        created_at  INTEGER NOT NULL,
        content_id  BLOB NOT NULL,
        PRIMARY KEY (topic, created_at, content_id)
    ) WITHOUT ROWID;
    CREATE TABLE peer_flags (
        public_key  BLOB NOT NULL,
        flag        TEXT NOT NULL CHECK (flag IN ('mute', 'block')),
        PRIMARY KEY (public_key, flag)
    ) WITHOUT ROWID;
    CREATE TABLE subscriptions (
        topic       TEXT PRIMARY KEY,
        joined_at   INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE crew_keys (
        crew        BLOB NOT NULL,
        epoch       INTEGER NOT NULL,
        key         BLOB NOT NULL,
        PRIMARY KEY (crew, epoch)
    ) WITHOUT ROWID;
    """,
    _backfill_topics,
    # pruning deletes a message's topic rows by content ID
    "CREATE INDEX message_topics_by_content ON message_topics (content_id)",
)

PRUNE_TO = 0.9  # a store over its quota is pruned to this share of it, so pruning runs rarely


class StoreError(Exception):
    """The database cannot be opened or is from a newer djmesh."""


class StoreFullError(StoreError):
    """The disk (or SQLite's page limit) is full: nothing new is written; what is stored stays readable."""


@dataclass(frozen=True)
class StoredMessage:
    envelope: SignedEnvelope
    received_at_ms: int


class Store:
    def __init__(
        self,
        path: Path | str,
        *,
        verified: EnvelopeCache | None = None,
        max_bytes: int | None = None,
        keep_author: bytes | None = None,
    ) -> None:
        """``verified``: envelopes already verified (shared with the inbox), so reading a message
        again does not check its signature and parse its payload again.

        ``max_bytes``: a quota on stored wire bytes. Beyond it the oldest messages received from
        others are deleted (battle results last); ``keep_author``'s own messages are never pruned.
        """
        self.path = Path(path)
        self._verified = verified
        self.max_bytes = max_bytes
        self.keep_author = keep_author
        if not self.path.exists():
            # Holds crew keys: private to the node's owner, like the identity key.
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(
                "PRAGMA synchronous=FULL"
            )  # NORMAL only for the batches of add_many(durable=False)
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._migrate()
            self._bytes = int(
                self._db.execute("SELECT coalesce(sum(length(wire)), 0) FROM messages").fetchone()[0]
            )
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open store {self.path}: {exc}") from exc

    @property
    def wire_bytes(self) -> int:
        """Stored message bytes (what the quota counts; SQLite's own overhead comes on top)."""
        return self._bytes

    @property
    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        current = self.schema_version
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path} has schema {current}; this djmesh knows up to {len(MIGRATIONS)}: upgrade djmesh"
            )
        for version in range(current, len(MIGRATIONS)):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                migration = MIGRATIONS[version]
                if isinstance(migration, str):
                    for statement in migration.split(";"):
                        if statement.strip():
                            self._db.execute(statement)
                else:
                    migration(self._db)
                self._db.execute(f"PRAGMA user_version = {version + 1}")
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            log.info("store %s migrated to schema %d", self.path, version + 1)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, envelope: SignedEnvelope, *, received_at_ms: int | None = None) -> bool:
        """Store one message; False if it was already there."""
        return self.add_many([envelope], received_at_ms=received_at_ms) == 1

    def add_many(
        self, envelopes: Iterable[SignedEnvelope], *, received_at_ms: int | None = None, durable: bool = True
    ) -> int:
        """Store a batch atomically (all or nothing); returns how many were new.

        ``durable``: on disk before this returns (an fsync); False for what peers can send again (the
        batch may be lost on a power failure, never half-written)."""
        received = received_at_ms if received_at_ms is not None else now_ms()
        envelopes_list = list(envelopes)
        rows = [(e.content_id, e.kind, e.author, e.created_at_ms, received, e.wire) for e in envelopes_list]
        if not durable:
            self._db.execute("PRAGMA synchronous=NORMAL")
        try:
            return self._add_rows(envelopes_list, rows)
        finally:
            if not durable:
                self._db.execute("PRAGMA synchronous=FULL")  # everything else stays durable

    def _add_rows(self, envelopes_list: list[SignedEnvelope], rows: Sequence[tuple[object, ...]]) -> int:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                fresh = [e for e in envelopes_list if e.content_id not in self]
                self._db.executemany(
                    "INSERT OR IGNORE INTO messages (content_id, kind, author, created_at, received_at, wire)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                self._db.executemany(
                    "INSERT OR IGNORE INTO message_topics (topic, created_at, content_id) VALUES (?, ?, ?)",
                    [
                        (topic, e.created_at_ms, e.content_id)
                        for e in envelopes_list
                        for topic in topics_for(e)
                    ],
                )
                self._db.execute("COMMIT")
            except BaseException:
                if self._db.in_transaction:  # SQLITE_FULL has rolled it back already
                    self._db.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode == sqlite3.SQLITE_FULL:
                raise StoreFullError(f"store {self.path} is full: {exc}") from exc
            raise
        self._bytes += sum(len(e.wire) for e in {e.content_id: e for e in fresh}.values())
        if self.max_bytes is not None and self._bytes > self.max_bytes:
            self.prune(int(self.max_bytes * PRUNE_TO))
        return len({e.content_id for e in fresh})

    def prune(self, target_bytes: int) -> int:
        """Delete the oldest received messages of other authors (battle results last) until the stored
        wire bytes are at most ``target_bytes``; returns how many were deleted."""
        deleted = 0
        keep = self.keep_author or b""
        while self._bytes > target_bytes:
            rows = self._db.execute(
                "SELECT content_id, length(wire) FROM messages WHERE author != ?"
                " ORDER BY kind = 'battle_result', received_at, content_id LIMIT 500",
                (keep,),
            ).fetchall()
            if not rows:
                log.warning("store %s: over its quota with only this node's own messages left", self.path)
                break
            batch, freed = [], 0
            for content_id, size in rows:
                batch.append((content_id,))
                freed += int(size)
                if self._bytes - freed <= target_bytes:
                    break
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany("DELETE FROM message_topics WHERE content_id = ?", batch)
                self._db.executemany("DELETE FROM messages WHERE content_id = ?", batch)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._bytes -= freed
            deleted += len(batch)
        if deleted:
            log.info("store %s: pruned %d old messages to stay under its quota", self.path, deleted)
        return deleted

    def get(self, content_id: bytes) -> StoredMessage | None:
        row = self._db.execute(
            "SELECT wire, received_at FROM messages WHERE content_id = ?", (content_id,)
        ).fetchone()
        return self._load(row) if row else None

    def __contains__(self, content_id: object) -> bool:
        return bool(self._db.execute("SELECT 1 FROM messages WHERE content_id = ?", (content_id,)).fetchone())

    def count(self, *, kind: str | None = None) -> int:
        if kind is None:
            return int(self._db.execute("SELECT count(*) FROM messages").fetchone()[0])
        return int(self._db.execute("SELECT count(*) FROM messages WHERE kind = ?", (kind,)).fetchone()[0])

    def query(
        self,
        *,
        author: bytes | None = None,
        kind: str | None = None,
        before_ms: int | None = None,
        since_ms: int | None = None,
        limit: int = 50,
    ) -> list[StoredMessage]:
        """Newest first; page with ``before_ms`` = the created_at of the last item seen."""
        clauses, params = [], []
        for column, op, value in (
            ("author", "=", author),
            ("kind", "=", kind),
            ("created_at", "<", before_ms),
            ("created_at", ">=", since_ms),
        ):
            if value is not None:
                clauses.append(f"{column} {op} ?")
                params.append(value)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        sql = f"SELECT wire, received_at FROM messages {where} ORDER BY created_at DESC, content_id LIMIT ?"
        rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [message for message in map(self._load, rows) if message is not None]

    def by_topics(
        self,
        topics: Sequence[str],
        *,
        kinds: Sequence[str] = (),
        since_ms: int = 0,
        before_ms: int | None = None,
        limit: int = 500,
        newest_first: bool = False,
    ) -> list[SignedEnvelope]:
        """Messages published on any of ``topics`` (history sync serves these oldest first)."""
        if not topics:
            return []
        clauses = [f"t.topic IN ({','.join('?' * len(topics))})", "t.created_at >= ?"]
        params: list[object] = [*topics, since_ms]
        if kinds:
            clauses.append(f"m.kind IN ({','.join('?' * len(kinds))})")
            params.extend(kinds)
        if before_ms is not None:
            clauses.append("t.created_at < ?")
            params.append(before_ms)
        order = "DESC" if newest_first else "ASC"
        rows = self._db.execute(
            f"SELECT DISTINCT m.wire, m.received_at, m.created_at, m.content_id FROM message_topics t"
            f" JOIN messages m ON m.content_id = t.content_id WHERE {' AND '.join(clauses)}"
            f" ORDER BY m.created_at {order}, m.content_id LIMIT ?",
            (*params, limit),
        ).fetchall()
        return [stored.envelope for stored in map(self._load, rows) if stored is not None]

    def held_on(self, topics: Sequence[str], *, since_ms: int, limit: int) -> list[tuple[int, bytes]]:
        """(created_at, content ID) of the newest ``limit`` messages on ``topics`` since ``since_ms``, newest
        first: what a reconciliation tells a peer this node already holds."""
        if not topics:
            return []
        rows = self._db.execute(
            f"SELECT DISTINCT created_at, content_id FROM message_topics WHERE topic IN ({','.join('?' * len(topics))})"
            " AND created_at >= ? ORDER BY created_at DESC, content_id LIMIT ?",
            (*topics, since_ms, limit),
        ).fetchall()
        return [(int(created), bytes(content_id)) for created, content_id in rows]

    def latest_on(self, topic: str) -> int | None:
        row = self._db.execute(
            "SELECT max(created_at) FROM message_topics WHERE topic = ?", (topic,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def set_flag(self, public_key: bytes, flag: str, on: bool = True) -> None:
        if on:
            self._db.execute("INSERT OR IGNORE INTO peer_flags VALUES (?, ?)", (public_key, flag))
        else:
            self._db.execute("DELETE FROM peer_flags WHERE public_key = ? AND flag = ?", (public_key, flag))

    def flagged(self, flag: str) -> set[bytes]:
        rows = self._db.execute("SELECT public_key FROM peer_flags WHERE flag = ?", (flag,))
        return {bytes(row[0]) for row in rows}

    def subscribe(self, topic: str, now_ms: int) -> None:
        self._db.execute("INSERT OR IGNORE INTO subscriptions VALUES (?, ?)", (topic, now_ms))

    def unsubscribe(self, topic: str) -> None:
        self._db.execute("DELETE FROM subscriptions WHERE topic = ?", (topic,))

    def subscriptions(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT topic FROM subscriptions ORDER BY topic")]

    def put_crew_key(self, crew: bytes, epoch: int, key: bytes) -> None:
        self._db.execute("INSERT OR REPLACE INTO crew_keys VALUES (?, ?, ?)", (crew, epoch, key))

    def crew_keys(self, crew: bytes) -> dict[int, bytes]:
        rows = self._db.execute("SELECT epoch, key FROM crew_keys WHERE crew = ?", (crew,))
        return {int(epoch): bytes(key) for epoch, key in rows}

    def content_ids(self) -> Iterator[bytes]:
        for (content_id,) in self._db.execute("SELECT content_id FROM messages ORDER BY content_id"):
            yield bytes(content_id)

    def integrity_ok(self) -> bool:
        return bool(self._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok")

    def _load(self, row: Sequence[object]) -> StoredMessage | None:
        wire, received_at = row[0], row[1]
        assert isinstance(wire, bytes) and isinstance(received_at, int)
        try:
            envelope = decode_envelope(bytes(wire), now_ms=None, cache=self._verified)
        except ProtocolError as exc:
            # A row written by a newer djmesh (a kind we do not know yet) is kept, not lost.
            log.warning("skipping stored message this version cannot read: %s", exc)
            return None
        return StoredMessage(envelope, int(received_at))
