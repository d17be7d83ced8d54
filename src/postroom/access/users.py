"""Operator users: the people who may log in to the dashboard (``postroom users ...``).

Passwords are hashed with Argon2id (RFC 9106) through argon2-cffi, whose default parameters
are RFC 9106's second recommended option (t=3, 64 MiB, p=4); a hash made with older
parameters is upgraded at the next successful login. The policy follows NIST SP 800-63B-4
section 3.1.1.2: at least 15 characters (a password alone guards the dashboard), long ones
accepted, no composition rules, no truncation, Unicode normalised (NFKC) before hashing so
the same password typed on another keyboard verifies.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from postroom.errors import AccessError
from postroom.store import Database
from postroom.store import credentials as store

MIN_PASSWORD = 15
#: Longer passwords are refused only to bound the work one login attempt can cause.
MAX_PASSWORD = 1024
_NAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,99}$")

_hasher = PasswordHasher()
# Verified when a username is unknown, so that answering takes as long as for a known one
# and the timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("postroom: no such user")


@dataclass(frozen=True, slots=True)
class OperatorUser:
    """A dashboard user, without the password hash."""

    id: int
    username: str
    created_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "created_at": self.created_at.isoformat(),
            "password_changed_at": self.password_changed_at.isoformat(),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


def _user(row: store.UserRecord) -> OperatorUser:
    return OperatorUser(
        row.id, row.username, row.created_at, row.password_changed_at, row.last_login_at
    )


def normal_username(username: str) -> str:
    """Usernames are compared without case (``Ada`` logs in as ``ada``)."""
    name = username.strip().lower()
    if not _NAME.match(name):
        raise AccessError(
            f"username {username!r}: use up to 100 letters, digits, '.', '_', '@', '+' or '-'"
        )
    return name


def normal_password(password: str) -> str:
    """The password as hashed (NFKC), or AccessError naming the rule it breaks."""
    text = unicodedata.normalize("NFKC", password)
    if len(text) < MIN_PASSWORD:
        raise AccessError(
            f"the password has {len(text)} characters; use at least {MIN_PASSWORD} "
            "(a few unrelated words make one that is easy to remember)"
        )
    if len(text) > MAX_PASSWORD:
        raise AccessError(f"the password is longer than {MAX_PASSWORD} characters")
    return text


def add_user(database: Database, username: str, password: str, *, now: datetime) -> OperatorUser:
    name = normal_username(username)
    hashed = _hasher.hash(normal_password(password))
    with database.transaction() as tx:
        if store.find_user(tx, name) is not None:
            raise AccessError(
                f"user {name!r} exists already: `postroom users password {name}` sets a new "
                "password"
            )
        return _user(store.insert_user(tx, username=name, password_hash=hashed, now=now))


def list_users(database: Database) -> list[OperatorUser]:
    with database.transaction() as tx:
        return [_user(row) for row in store.list_users(tx)]


def _existing(database: Database, username: str) -> store.UserRecord:
    name = normal_username(username)
    with database.transaction() as tx:
        row = store.find_user(tx, name)
    if row is None:
        raise AccessError(f"no user {name!r}: `postroom users list` shows the users there are")
    return row


def remove_user(database: Database, username: str) -> OperatorUser:
    row = _existing(database, username)
    with database.transaction() as tx:
        store.delete_user(tx, row.id)
    return _user(row)


def set_password(
    database: Database, username: str, password: str, *, now: datetime
) -> OperatorUser:
    row = _existing(database, username)
    hashed = _hasher.hash(normal_password(password))
    with database.transaction() as tx:
        store.update_user(tx, row.id, password_hash=hashed, password_changed_at=now)
    return _user(row)


def verify_login(
    database: Database, username: str, password: str, *, now: datetime
) -> OperatorUser | None:
    """The user when ``password`` is theirs, else None (unknown name or wrong password alike,
    in about the same time). Records the login and upgrades an outdated hash."""
    try:
        name = normal_username(username)
    except AccessError:
        name = ""
    text = unicodedata.normalize("NFKC", password)[: MAX_PASSWORD + 1]
    with database.transaction() as tx:
        row = store.find_user(tx, name) if name else None
    try:
        _hasher.verify(row.password_hash if row else _DUMMY_HASH, text)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return None
    if row is None or len(text) > MAX_PASSWORD:
        return None
    values: dict[str, object] = {"last_login_at": now}
    if _hasher.check_needs_rehash(row.password_hash):
        values["password_hash"] = _hasher.hash(text)
    with database.transaction() as tx:
        store.update_user(tx, row.id, **values)
    return _user(row)
