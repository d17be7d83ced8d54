"""Repository functions: the only place that writes SQL. Each takes an open ORM session
(one unit of work, see :meth:`postroom.store.db.Database.transaction`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, case, delete, func, select, update
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

# Core tables for the statements of the hot path (typed as Table, not the ORM's FromClause).
INBOUND = cast(Table, InboundMessageRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
BOUNCE_SCORES = cast(Table, BounceScoreRow.__table__)

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


@dataclass(frozen=True, slots=True)
class Claim:
    """The result of :func:`claim_inbound`."""

    inbound_id: int
    claimed: bool
    state: str  # the earlier outcome (or status) when not claimed


def _insert(tx: Session, table: Any) -> Any:
    dialect = tx.get_bind().dialect.name
    return pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)


# Statements of the per-message hot path are built once per dialect with bind parameters:
# literal .values() would make SQLAlchemy build and hash a new statement for every message.
_STATEMENTS: dict[tuple[str, str], Any] = {}


def _statement(tx: Session, name: str, build: Any) -> Any:
    dialect = tx.get_bind().dialect.name
    stmt = _STATEMENTS.get((dialect, name))
    if stmt is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        stmt = _STATEMENTS[(dialect, name)] = build(insert)
    return stmt


def _claim_insert(insert: Any) -> Any:
    table = INBOUND
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def claim_inbound(
    tx: Session, *, key: str, now: datetime, lease: timedelta, values: Mapping[str, Any]
) -> Claim:
    """Insert the message under its dedupe key, or find the row already there.

    ``claimed`` is True for a new row, and also when an earlier attempt died while processing
    (its lease ran out), so the MTA's retry is not lost. Two processes racing on PostgreSQL:
    the unique index lets exactly one insert win; the other waits for it, then sees it.
    Core statements, no ORM objects: this runs for every message received.
    """
    table = INBOUND
    conn = tx.connection()
    row: dict[str, Any] = dict.fromkeys(_INBOUND_OPTIONAL)
    row.update(values)
    row.update(
        details=values.get("details") or {}, dedupe_key=key, claimed_at=now, status="processing"
    )
    inserted = conn.execute(_statement(tx, "claim", _claim_insert), row).scalar_one_or_none()
    if inserted is not None:
        return Claim(inserted, True, "processing")
    existing = conn.execute(
        select(table.c.id, table.c.status, table.c.outcome, table.c.claimed_at).where(
            table.c.dedupe_key == key
        )
    ).one()
    claimed_at = existing.claimed_at
    if claimed_at.tzinfo is None:
        claimed_at = claimed_at.replace(tzinfo=UTC)
    if existing.status == "processing" and claimed_at < now - lease:
        taken = conn.execute(
            update(table)
            .where(table.c.id == existing.id)
            .where(table.c.claimed_at == existing.claimed_at)
            .values(claimed_at=now)
        )
        if taken.rowcount:
            return Claim(existing.id, True, "processing")
    return Claim(existing.id, False, existing.outcome or existing.status)


# Every execution of one statement must name the same columns (executemany rules).
_INBOUND_OPTIONAL = (
    "envelope_sender",
    "envelope_recipient",
    "address",
    "message_id",
    "sender",
    "subject",
    "module",
    "user_id",
    "session_id",
    "kind",
    "outcome",
    "error",
)


def get_inbound(tx: Session, inbound_id: int) -> InboundMessageRow | None:
    return tx.get(InboundMessageRow, inbound_id)


def finish_inbound(tx: Session, inbound_id: int, **values: Any) -> None:
    """Record the outcome (and whatever else ``values`` names) of a claimed message."""
    table = INBOUND
    stmt = update(table).where(table.c.id == bindparam("b_inbound_id"))
    tx.connection().execute(stmt, {"b_inbound_id": inbound_id, **values})


# --- events ------------------------------------------------------------------------------------


_EVENT_COLUMNS = (
    "email_id",
    "delivery_id",
    "recipient",
    "user_id",
    "module",
    "inbound_id",
    "machine",
)


def add_event(tx: Session, *, type: str, occurred_at: datetime, **values: Any) -> None:
    row: dict[str, Any] = dict.fromkeys(_EVENT_COLUMNS)
    row.update(values, type=type, occurred_at=occurred_at, data=values.get("data") or {})
    tx.connection().execute(EVENTS.insert(), row)


def list_events(tx: Session, *, type: str | None = None, limit: int = 100) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if type is not None:
        query = query.where(EventRow.type == type)
    return list(tx.scalars(query))


# --- bounce scores and suppressions -----------------------------------------------------------


def _bounce_upsert(insert: Any) -> Any:
    table = BOUNCE_SCORES
    c = table.c
    stmt = insert(table)
    new = stmt.excluded  # the row this bounce would have inserted
    stale = c.last_bounce_at < bindparam("b_cutoff")
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.user_id],
        set_={
            "score": case((stale, new.score), else_=c.score + new.score),
            "hard_count": case((stale, new.hard_count), else_=c.hard_count + new.hard_count),
            "soft_count": case((stale, new.soft_count), else_=c.soft_count + new.soft_count),
            "last_bounce_at": new.last_bounce_at,
        },
    )
    return stmt.returning(c.score)


def add_bounce_score(
    tx: Session, *, user_id: int, weight: float, hard: bool, now: datetime, quiet: timedelta
) -> float:
    """Add one bounce and return the new score, in one atomic upsert.

    A score whose last bounce is older than ``quiet`` starts again from zero. No read-modify-
    write, so two processes counting bounces for one user at once both count.
    """
    params = {
        "user_id": user_id,
        "score": weight,
        "hard_count": 1 if hard else 0,
        "soft_count": 0 if hard else 1,
        "last_bounce_at": now,
        "b_cutoff": now - quiet,
    }
    stmt = _statement(tx, "bounce", _bounce_upsert)
    return float(tx.connection().execute(stmt, params).scalar_one())


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
