"""Repository functions for API tokens and operator users (``api_tokens``,
``operator_users``); the rules about them live in :mod:`postroom.access`."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, select, update

from postroom.store.models import ApiTokenRow, OperatorUserRow
from postroom.store.repos import Tx, _conn

TOKENS = cast(Table, ApiTokenRow.__table__)
USERS = cast(Table, OperatorUserRow.__table__)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    key_id: str
    secret_hash: bytes
    name: str
    scopes: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    created_at: datetime
    password_changed_at: datetime
    last_login_at: datetime | None


def _token(row: Any) -> TokenRecord:
    return TokenRecord(**{f.name: getattr(row, f.name) for f in fields(TokenRecord)})


def _user(row: Any) -> UserRecord:
    return UserRecord(**{f.name: getattr(row, f.name) for f in fields(UserRecord)})


# --- tokens --------------------------------------------------------------------------------


def insert_token(
    tx: Tx,
    *,
    key_id: str,
    secret_hash: bytes,
    name: str,
    scopes: str,
    now: datetime,
    expires_at: datetime | None,
) -> TokenRecord:
    conn = _conn(tx)
    new_id = conn.execute(
        TOKENS.insert().returning(TOKENS.c.id),
        {
            "key_id": key_id,
            "secret_hash": secret_hash,
            "name": name,
            "scopes": scopes,
            "created_at": now,
            "expires_at": expires_at,
        },
    ).scalar_one()
    row = conn.execute(select(TOKENS).where(TOKENS.c.id == new_id)).one()
    return _token(row)


def find_token(tx: Tx, *, key_id: str | None = None, name: str | None = None) -> TokenRecord | None:
    query = select(TOKENS)
    if key_id is not None:
        query = query.where(TOKENS.c.key_id == key_id)
    if name is not None:
        query = query.where(TOKENS.c.name == name)
    row = _conn(tx).execute(query.limit(1)).first()
    return _token(row) if row is not None else None


def list_tokens(tx: Tx) -> list[TokenRecord]:
    return [_token(r) for r in _conn(tx).execute(select(TOKENS).order_by(TOKENS.c.id))]


def revoke_token(tx: Tx, token_id: int, *, now: datetime) -> None:
    _conn(tx).execute(
        update(TOKENS)
        .where(TOKENS.c.id == token_id, TOKENS.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )


def touch_token(tx: Tx, token_id: int, *, now: datetime) -> None:
    _conn(tx).execute(update(TOKENS).where(TOKENS.c.id == token_id).values(last_used_at=now))


# --- operator users ------------------------------------------------------------------------


def insert_user(tx: Tx, *, username: str, password_hash: str, now: datetime) -> UserRecord:
    conn = _conn(tx)
    new_id = conn.execute(
        USERS.insert().returning(USERS.c.id),
        {
            "username": username,
            "password_hash": password_hash,
            "created_at": now,
            "password_changed_at": now,
        },
    ).scalar_one()
    return _user(conn.execute(select(USERS).where(USERS.c.id == new_id)).one())


def find_user(tx: Tx, username: str) -> UserRecord | None:
    row = _conn(tx).execute(select(USERS).where(USERS.c.username == username)).first()
    return _user(row) if row is not None else None


def list_users(tx: Tx) -> list[UserRecord]:
    return [_user(r) for r in _conn(tx).execute(select(USERS).order_by(USERS.c.username))]


def update_user(tx: Tx, user_id: int, **values: Any) -> None:
    _conn(tx).execute(update(USERS).where(USERS.c.id == user_id).values(**values))


def delete_user(tx: Tx, user_id: int) -> None:
    _conn(tx).execute(delete(USERS).where(USERS.c.id == user_id))
