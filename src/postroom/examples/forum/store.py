"""The forum's own tables, in a SQLite file of its own (an application keeps its data; postroom
keeps the mail). Plain sqlite3: the example shows postroom's API, not an ORM."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS members (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    address TEXT NOT NULL UNIQUE,
    mail TEXT NOT NULL DEFAULT 'each',      -- each | digest | off
    mail_off_reason TEXT
);
CREATE TABLE IF NOT EXISTS topics (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS posts (
    id INTEGER PRIMARY KEY,
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    member_id INTEGER NOT NULL REFERENCES members(id),
    text TEXT NOT NULL,
    via TEXT NOT NULL,                       -- web | email | digest
    inbound_id INTEGER,
    created_at TEXT NOT NULL,
    email_id INTEGER                         -- postroom's email announcing it, once sent
);
CREATE TABLE IF NOT EXISTS subscriptions (
    member_id INTEGER NOT NULL REFERENCES members(id),
    topic_id INTEGER NOT NULL REFERENCES topics(id),
    PRIMARY KEY (member_id, topic_id)
);
CREATE TABLE IF NOT EXISTS digests (
    member_id INTEGER PRIMARY KEY REFERENCES members(id),
    last_post_id INTEGER NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    name: str
    address: str
    mail: str
    mail_off_reason: str | None


@dataclass(frozen=True, slots=True)
class Topic:
    id: int
    title: str
    closed: bool


@dataclass(frozen=True, slots=True)
class ForumPost:
    id: int
    topic_id: int
    member_id: int
    text: str
    via: str
    inbound_id: int | None
    created_at: datetime


def _post(row: tuple[Any, ...]) -> ForumPost:
    post_id, topic_id, member_id, text, via, inbound_id, created_at = row
    return ForumPost(
        post_id, topic_id, member_id, text, via, inbound_id, datetime.fromisoformat(created_at)
    )


class ForumStore:
    """The forum's rows. One connection, serialised by a lock (handlers may run in threads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.executescript(SCHEMA)
        self._lock = threading.RLock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # -- members and topics -------------------------------------------------------------------

    def add_member(self, name: str, address: str, mail: str = "each") -> Member:
        if mail not in ("each", "digest", "off"):
            raise ValueError("mail is 'each', 'digest' or 'off'")
        with self._tx() as tx:
            cur = tx.execute(
                "INSERT INTO members (name, address, mail) VALUES (?, ?, ?)", (name, address, mail)
            )
        return self.member(int(cur.lastrowid or 0))

    def member(self, member_id: int) -> Member:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, name, address, mail, mail_off_reason FROM members WHERE id = ?",
                (member_id,),
            ).fetchone()
        if row is None:
            raise LookupError(f"no member {member_id}")
        return Member(*row)

    def members(self) -> list[Member]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, name, address, mail, mail_off_reason FROM members ORDER BY id"
            ).fetchall()
        return [Member(*row) for row in rows]

    def set_mail(self, member_id: int, mail: str, reason: str | None = None) -> None:
        with self._tx() as tx:
            tx.execute(
                "UPDATE members SET mail = ?, mail_off_reason = ? WHERE id = ?",
                (mail, reason, member_id),
            )

    def add_topic(self, title: str) -> Topic:
        with self._tx() as tx:
            cur = tx.execute("INSERT INTO topics (title) VALUES (?)", (title,))
        return self.topic(int(cur.lastrowid or 0))

    def topic(self, topic_id: int) -> Topic:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, title, closed FROM topics WHERE id = ?", (topic_id,)
            ).fetchone()
        if row is None:
            raise LookupError(f"no topic {topic_id}")
        return Topic(row[0], row[1], bool(row[2]))

    def topics(self) -> list[Topic]:
        with self._lock:
            rows = self._conn.execute("SELECT id, title, closed FROM topics ORDER BY id").fetchall()
        return [Topic(row[0], row[1], bool(row[2])) for row in rows]

    def close_topic(self, topic_id: int) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE topics SET closed = 1 WHERE id = ?", (topic_id,))

    # -- subscriptions and posts --------------------------------------------------------------

    def subscribe(self, member_id: int, topic_id: int) -> None:
        with self._tx() as tx:
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (member_id, topic_id) VALUES (?, ?)",
                (member_id, topic_id),
            )

    def subscribers(self, topic_id: int) -> list[Member]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT m.id, m.name, m.address, m.mail, m.mail_off_reason FROM members m "
                "JOIN subscriptions s ON s.member_id = m.id WHERE s.topic_id = ? ORDER BY m.id",
                (topic_id,),
            ).fetchall()
        return [Member(*row) for row in rows]

    def add_post(
        self, topic_id: int, member_id: int, text: str, via: str, inbound_id: int | None = None
    ) -> ForumPost:
        now = datetime.now(UTC)
        with self._tx() as tx:
            cur = tx.execute(
                "INSERT INTO posts (topic_id, member_id, text, via, inbound_id, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (topic_id, member_id, text, via, inbound_id, now.isoformat()),
            )
        return ForumPost(int(cur.lastrowid or 0), topic_id, member_id, text, via, inbound_id, now)

    def posts(self, topic_id: int | None = None) -> list[ForumPost]:
        query = "SELECT id, topic_id, member_id, text, via, inbound_id, created_at FROM posts"
        args: tuple[int, ...] = ()
        if topic_id is not None:
            query += " WHERE topic_id = ?"
            args = (topic_id,)
        with self._lock:
            rows = self._conn.execute(query + " ORDER BY id", args).fetchall()
        return [_post(row) for row in rows]

    def set_post_email(self, post_id: int, email_id: int) -> None:
        with self._tx() as tx:
            tx.execute("UPDATE posts SET email_id = ? WHERE id = ?", (email_id, post_id))

    def unannounced(self) -> list[ForumPost]:
        """Posts whose email could not be queued yet (no account, say), oldest first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, topic_id, member_id, text, via, inbound_id, created_at FROM posts "
                "WHERE email_id IS NULL ORDER BY id"
            ).fetchall()
        return [_post(row) for row in rows]

    def unsent_for_digest(self, member_id: int) -> list[ForumPost]:
        """Posts in the member's topics, by others, newer than the member's last digest."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT p.id, p.topic_id, p.member_id, p.text, p.via, p.inbound_id, p.created_at "
                "FROM posts p JOIN subscriptions s ON s.topic_id = p.topic_id "
                "WHERE s.member_id = ? AND p.member_id != ? AND p.id > COALESCE("
                "(SELECT last_post_id FROM digests WHERE member_id = ?), 0) ORDER BY p.id",
                (member_id, member_id, member_id),
            ).fetchall()
        return [_post(row) for row in rows]

    def mark_digested(self, member_id: int, last_post_id: int) -> None:
        with self._tx() as tx:
            tx.execute(
                "INSERT INTO digests (member_id, last_post_id) VALUES (?, ?) "
                "ON CONFLICT (member_id) DO UPDATE SET last_post_id = excluded.last_post_id",
                (member_id, last_post_id),
            )
