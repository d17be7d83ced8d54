"""Repository functions for sending accounts (the ``accounts`` table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from postroom.accounts.model import Account, AccountSpec, Auth, Envelope, Limits, Security
from postroom.errors import AccountError
from postroom.store.models import AccountRow, DeliveryRow
from postroom.store.repos import Tx, _conn

ACCOUNTS = cast(Table, AccountRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
PENDING = ("queued", "deferred", "sending")


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        name=row.name,
        from_address=row.from_address,
        from_name=row.from_name,
        smtp_host=row.smtp_host,
        smtp_port=row.smtp_port,
        smtp_security=Security(row.smtp_security),
        smtp_auth=Auth(row.smtp_auth),
        smtp_username=row.smtp_username,
        imap_host=row.imap_host,
        imap_port=row.imap_port,
        imap_security=Security(row.imap_security) if row.imap_security else None,
        imap_username=row.imap_username,
        envelope=Envelope(row.envelope),
        limits=Limits.from_json(row.limits),
        has_secret=row.secret is not None,
        paused_until=row.paused_until,
        pause_reason=row.pause_reason,
        state=dict(row.state or {}),
        last_test=row.last_test,
        created_at=row.created_at,
    )


def insert_account(tx: Tx, spec: AccountSpec, *, secret: bytes | None, now: datetime) -> Account:
    values = {
        "name": spec.name,
        "from_address": spec.from_address,
        "from_name": spec.from_name,
        "smtp_host": spec.smtp_host,
        "smtp_port": spec.smtp_port,
        "smtp_security": str(spec.smtp_security),
        "smtp_auth": str(spec.smtp_auth),
        "smtp_username": spec.smtp_username,
        "imap_host": spec.imap_host,
        "imap_port": spec.imap_port,
        "imap_security": str(spec.imap_security) if spec.imap_security else None,
        "imap_username": spec.imap_username,
        "envelope": str(spec.envelope),
        "limits": spec.limits.to_json(),
        "secret": secret,
        "state": {},
        "created_at": now,
        "updated_at": now,
    }
    conn = _conn(tx)
    try:
        with conn.begin_nested():
            conn.execute(ACCOUNTS.insert(), values)
    except IntegrityError:
        raise AccountError(
            f"an account named {spec.name!r} exists already: remove it first "
            f"(postroom accounts remove {spec.name}) or choose another name"
        ) from None
    account = get_account(tx, name=spec.name)
    assert account is not None
    return account


def get_account(tx: Tx, *, name: str | None = None, id: int | None = None) -> Account | None:
    query = select(ACCOUNTS)
    query = query.where(ACCOUNTS.c.name == name) if name is not None else query
    query = query.where(ACCOUNTS.c.id == id) if id is not None else query
    row = _conn(tx).execute(query).one_or_none()
    return None if row is None else _account(row)


def list_accounts(tx: Tx) -> list[Account]:
    rows = _conn(tx).execute(select(ACCOUNTS).order_by(ACCOUNTS.c.name)).all()
    return [_account(row) for row in rows]


def pending_copies(tx: Tx, account_id: int) -> int:
    c = DELIVERIES.c
    query = select(func.count()).where(c.account_id == account_id).where(c.status.in_(PENDING))
    return int(_conn(tx).execute(query).scalar_one())


def delete_account(tx: Tx, account_id: int) -> None:
    _conn(tx).execute(delete(ACCOUNTS).where(ACCOUNTS.c.id == account_id))


def get_secret(tx: Tx, account_id: int) -> bytes | None:
    query = select(ACCOUNTS.c.secret).where(ACCOUNTS.c.id == account_id)
    value = _conn(tx).execute(query).scalar_one_or_none()
    return None if value is None else bytes(value)


def all_secrets(tx: Tx) -> list[tuple[int, bytes]]:
    query = select(ACCOUNTS.c.id, ACCOUNTS.c.secret).where(ACCOUNTS.c.secret.is_not(None))
    return [(row.id, bytes(row.secret)) for row in _conn(tx).execute(query)]


def update_account(tx: Tx, account_id: int, *, now: datetime, **values: Any) -> None:
    """Set columns of one account (``secret``, ``paused_until``, ``state``, ``last_test``...)."""
    _conn(tx).execute(
        update(ACCOUNTS).where(ACCOUNTS.c.id == account_id).values(updated_at=now, **values)
    )


def merge_state(tx: Tx, account_id: int, changes: dict[str, Any], *, now: datetime) -> None:
    """Merge ``changes`` into the account's learned state (read, merge, write; the account row
    is locked for it on PostgreSQL so two workers learning at once keep both facts)."""
    conn = _conn(tx)
    query = select(ACCOUNTS.c.state).where(ACCOUNTS.c.id == account_id)
    if conn.dialect.name == "postgresql":
        query = query.with_for_update()
    state = dict(conn.execute(query).scalar_one_or_none() or {})
    state.update(changes)
    update_account(tx, account_id, now=now, state=state)
