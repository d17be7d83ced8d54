"""Repository functions of the local mail catcher (``catcher_messages``): captured copies,
each recipient's inbox as a keyset page by id, and what was done as the recipient."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update

from postroom.store.keyset import Key, Page, after, page_of
from postroom.store.models import CatcherMessageRow
from postroom.store.repos import Tx, _conn

CAUGHT = cast(Table, CatcherMessageRow.__table__)


@dataclass(frozen=True, slots=True)
class CaughtMessage:
    """One captured copy for one recipient (``raw`` only when asked for)."""

    id: int
    received_at: datetime
    mail_from: str
    recipient: str
    message_id: str | None
    subject: str | None
    from_header: str | None
    size: int
    actions: tuple[dict[str, Any], ...]
    raw: bytes | None = None


@dataclass(frozen=True, slots=True)
class Inbox:
    """A recipient who has mail in the catcher: how much and when the newest came."""

    recipient: str
    messages: int
    latest_id: int


_LISTED = [c for c in CAUGHT.c if c.name != "raw"]


def _caught(row: Any, raw: bytes | None = None) -> CaughtMessage:
    return CaughtMessage(
        id=row.id,
        received_at=row.received_at,
        mail_from=row.mail_from,
        recipient=row.recipient,
        message_id=row.message_id,
        subject=row.subject,
        from_header=row.from_header,
        size=row.size,
        actions=tuple(row.actions or ()),
        raw=raw,
    )


def insert_caught(
    tx: Tx,
    *,
    received_at: datetime,
    mail_from: str,
    recipient: str,
    message_id: str | None,
    subject: str | None,
    from_header: str | None,
    raw: bytes,
) -> int:
    result = _conn(tx).execute(
        insert(CAUGHT).values(
            received_at=received_at,
            mail_from=mail_from,
            recipient=recipient.strip().lower(),
            message_id=message_id,
            subject=subject,
            from_header=from_header,
            size=len(raw),
            actions=[],
            raw=raw,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def inboxes(tx: Tx, *, limit: int = 200, address: str | None = None) -> list[Inbox]:
    """Recipients with mail, the one most recently written to first."""
    c = CAUGHT.c
    query = (
        select(c.recipient, func.count(), func.max(c.id).label("latest"))
        .group_by(c.recipient)
        .order_by(func.max(c.id).desc())
        .limit(limit)
    )
    if address:
        query = query.where(c.recipient.contains(address.strip().lower(), autoescape=True))
    return [Inbox(r[0], int(r[1]), int(r[2])) for r in _conn(tx).execute(query)]


def caught_page(
    tx: Tx, *, recipient: str | None, start: Key | None, limit: int
) -> Page[CaughtMessage]:
    c = CAUGHT.c
    query = select(*_LISTED).order_by(c.id.desc()).limit(limit + 1)
    if recipient is not None:
        query = query.where(c.recipient == recipient.strip().lower())
    if start is not None:
        query = query.where(after(start, c.id))
    rows = [_caught(r) for r in _conn(tx).execute(query)]
    return page_of(rows, limit, lambda m: Key(m.id))


def get_caught(tx: Tx, caught_id: int) -> CaughtMessage | None:
    row = _conn(tx).execute(select(CAUGHT).where(CAUGHT.c.id == caught_id)).first()
    return _caught(row, bytes(row.raw)) if row is not None else None


def add_action(tx: Tx, caught_id: int, action: dict[str, Any]) -> None:
    """Append one action record (read, extended and written back in one transaction)."""
    conn = _conn(tx)
    c = CAUGHT.c
    current = conn.execute(select(c.actions).where(c.id == caught_id)).scalar_one_or_none()
    actions = [*(current or []), action]
    conn.execute(update(CAUGHT).where(c.id == caught_id).values(actions=actions))
