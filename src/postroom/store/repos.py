"""Repository functions: the only place that writes SQL. Each takes an open ORM session
(one unit of work, see :meth:`postroom.store.db.Database.transaction`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from postroom.store.models import (
    BounceScoreRow,
    EventRow,
    InboundMessageRow,
    NoticeRow,
    SessionRow,
    SuppressionRow,
)

# --- sessions ----------------------------------------------------------------------------------


def insert_session(
    tx: Session,
    *,
    key: bytes,
    module: int,
    user_id: int,
    data: Any,
    created_at: datetime,
    expires_at: datetime,
    uses_left: int | None,
) -> SessionRow:
    row = SessionRow(
        key=key,
        module=module,
        user_id=user_id,
        data=data,
        created_at=created_at,
        expires_at=expires_at,
        uses_left=uses_left,
        use_count=0,
    )
    tx.add(row)
    tx.flush()
    return row


def find_session(tx: Session, key: bytes) -> SessionRow | None:
    return tx.scalars(select(SessionRow).where(SessionRow.key == key)).one_or_none()


def take_session_use(tx: Session, session_id: int) -> bool:
    """Spend one use atomically; False when none was left (a concurrent reply took it)."""
    result = tx.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .where((SessionRow.uses_left.is_(None)) | (SessionRow.uses_left > 0))
        .values(
            use_count=SessionRow.use_count + 1,
            uses_left=func.coalesce(SessionRow.uses_left - 1, None),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def give_back_session_use(tx: Session, session_id: int) -> None:
    tx.execute(
        update(SessionRow)
        .where(SessionRow.id == session_id)
        .values(
            use_count=SessionRow.use_count - 1,
            uses_left=func.coalesce(SessionRow.uses_left + 1, None),
        )
        .execution_options(synchronize_session=False)
    )


def delete_sessions_expired_before(tx: Session, cutoff: datetime) -> int:
    result = tx.execute(delete(SessionRow).where(SessionRow.expires_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- inbound messages --------------------------------------------------------------------------


def dedupe_key(message_id: str | None, raw: bytes, address: str) -> str:
    """The same message (by Message-ID, else by content) to the same address is one delivery."""
    ident = (
        message_id.strip().lower() if message_id else "sha256:" + hashlib.sha256(raw).hexdigest()
    )
    return hashlib.sha256(f"{ident}\0{address.lower()}".encode()).hexdigest()


def claim_inbound(
    tx: Session, *, key: str, now: datetime, lease: timedelta, values: Mapping[str, Any]
) -> tuple[InboundMessageRow, bool]:
    """Insert the message under its dedupe key, or find the row already there.

    Returns ``(row, claimed)``. ``claimed`` is True for a new row, and also when an earlier
    attempt died while processing (its lease ran out), so the MTA's retry is not lost. Two
    processes racing on PostgreSQL: the unique index lets exactly one insert win.
    """
    table = InboundMessageRow.__table__
    row_values = {**values, "dedupe_key": key, "claimed_at": now, "status": "processing"}
    stmt: Any
    if tx.get_bind().dialect.name == "postgresql":
        stmt = pg_insert(table).values(**row_values).on_conflict_do_nothing()
    else:
        stmt = sqlite_insert(table).values(**row_values).on_conflict_do_nothing()
    inserted = tx.execute(stmt.returning(table.c.id)).scalar_one_or_none()
    if inserted is not None:
        return tx.get_one(InboundMessageRow, inserted), True
    existing = tx.scalars(
        select(InboundMessageRow).where(InboundMessageRow.dedupe_key == key)
    ).one()
    if existing.status == "processing" and existing.claimed_at < now - lease:
        taken = tx.execute(
            update(InboundMessageRow)
            .where(InboundMessageRow.id == existing.id)
            .where(InboundMessageRow.claimed_at == existing.claimed_at)
            .values(claimed_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount:  # type: ignore[attr-defined]
            tx.refresh(existing)
            return existing, True
    return existing, False


def get_inbound(tx: Session, inbound_id: int) -> InboundMessageRow | None:
    return tx.get(InboundMessageRow, inbound_id)


def finish_inbound(tx: Session, inbound_id: int, **values: Any) -> None:
    tx.execute(
        update(InboundMessageRow)
        .where(InboundMessageRow.id == inbound_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


# --- events ------------------------------------------------------------------------------------


def add_event(tx: Session, *, type: str, occurred_at: datetime, **values: Any) -> EventRow:
    row = EventRow(type=type, occurred_at=occurred_at, data=values.pop("data", {}), **values)
    tx.add(row)
    return row


def list_events(tx: Session, *, type: str | None = None, limit: int = 100) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if type is not None:
        query = query.where(EventRow.type == type)
    return list(tx.scalars(query))


# --- bounce scores and suppressions -----------------------------------------------------------


def add_bounce_score(
    tx: Session, *, user_id: int, weight: float, hard: bool, now: datetime, quiet: timedelta
) -> BounceScoreRow:
    """Add one bounce; a score whose last bounce is older than ``quiet`` starts again at 0."""
    row = tx.get(BounceScoreRow, user_id, with_for_update=True)
    if row is None:
        row = BounceScoreRow(user_id=user_id, score=0.0, hard_count=0, soft_count=0)
        row.last_bounce_at = now
        tx.add(row)
    elif row.last_bounce_at < now - quiet:
        row.score, row.hard_count, row.soft_count = 0.0, 0, 0
    row.score += weight
    if hard:
        row.hard_count += 1
    else:
        row.soft_count += 1
    row.last_bounce_at = now
    tx.flush()
    return row


def get_bounce_score(tx: Session, user_id: int) -> BounceScoreRow | None:
    return tx.get(BounceScoreRow, user_id)


def suppress_user(
    tx: Session,
    *,
    user_id: int,
    address: str | None,
    reason: str,
    now: datetime,
    details: Mapping[str, Any],
) -> bool:
    """Suppress a user's address; False when it already was."""
    if tx.scalars(select(SuppressionRow).where(SuppressionRow.user_id == user_id)).first():
        return False
    tx.add(
        SuppressionRow(
            user_id=user_id, address=address, reason=reason, created_at=now, details=dict(details)
        )
    )
    tx.flush()
    return True


def is_suppressed(tx: Session, user_id: int) -> bool:
    found = tx.scalars(select(SuppressionRow.id).where(SuppressionRow.user_id == user_id)).first()
    return found is not None


# --- notices (error emails) -------------------------------------------------------------------


def count_notices_since(tx: Session, to_address: str, since: datetime) -> int:
    return int(
        tx.scalar(
            select(func.count(NoticeRow.id))
            .where(NoticeRow.to_address == to_address.lower())
            .where(NoticeRow.created_at >= since)
            .where(NoticeRow.status == "sent")
        )
        or 0
    )


def add_notice(
    tx: Session,
    *,
    to_address: str,
    kind: str,
    now: datetime,
    inbound_id: int | None,
    status: str,
    raw: bytes,
) -> NoticeRow:
    row = NoticeRow(
        to_address=to_address.lower(),
        kind=kind,
        created_at=now,
        inbound_id=inbound_id,
        status=status,
        raw=raw,
    )
    tx.add(row)
    return row
