"""Repository functions: the only place that writes SQL. Each takes an open ORM session
(one unit of work, see :meth:`postroom.store.db.Database.transaction`)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from postroom.store import fastpath
from postroom.store.models import (
    BounceScoreRow,
    EventRow,
    InboundMessageRow,
    MessageIdRow,
    NoticeRow,
    SessionRow,
    SuppressionRow,
)

# Core tables for the statements of the hot path (typed as Table, not the ORM's FromClause).
INBOUND = cast(Table, InboundMessageRow.__table__)
EVENTS = cast(Table, EventRow.__table__)
BOUNCE_SCORES = cast(Table, BounceScoreRow.__table__)

Tx = Session | Connection


def _conn(tx: Tx) -> Connection:
    """Hot-path functions take an ORM session or a bare Core connection (cheaper per call)."""
    return tx.connection() if isinstance(tx, Session) else tx


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
    address: str | None = None,
) -> SessionRow:
    row = SessionRow(
        address=address,
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


SESSIONS = cast(Table, SessionRow.__table__)
SUPPRESSIONS = cast(Table, SuppressionRow.__table__)
NOTICES = cast(Table, NoticeRow.__table__)
MESSAGE_IDS = cast(Table, MessageIdRow.__table__)


def _insert_for(tx: Tx) -> Any:
    return pg_insert if _conn(tx).dialect.name == "postgresql" else sqlite_insert


def find_session(tx: Tx, key: bytes) -> Any:
    """The session row with this key (a Core row with the table's columns), or None."""
    return _conn(tx).execute(select(SESSIONS).where(SESSIONS.c.key == key)).one_or_none()


def take_session_use(tx: Tx, session_id: int) -> bool:
    """Spend one use atomically; False when none was left (a concurrent reply took it)."""
    c = SESSIONS.c
    result = _conn(tx).execute(
        update(SESSIONS)
        .where(c.id == session_id)
        .where(c.uses_left.is_(None) | (c.uses_left > 0))
        .values(use_count=c.use_count + 1, uses_left=func.coalesce(c.uses_left - 1, None))
    )
    return bool(result.rowcount)


def give_back_session_use(tx: Tx, session_id: int) -> None:
    c = SESSIONS.c
    _conn(tx).execute(
        update(SESSIONS)
        .where(c.id == session_id)
        .values(use_count=c.use_count - 1, uses_left=func.coalesce(c.uses_left + 1, None))
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
    state: str  # "new" (inserted now), "processing" (taken over), or the earlier outcome


_CLAIM_SQL = fastpath.insert_sql(INBOUND, conflict="dedupe_key", returning="id")
_INBOUND_COLUMNS = tuple(c.name for c in INBOUND.columns if c.name != "id")


def claim_inbound(
    tx: Tx, *, key: str, now: datetime, lease: timedelta, values: Mapping[str, Any]
) -> Claim:
    """Insert the message under its dedupe key, or find the row already there.

    ``claimed`` is True for a new row, and also when an earlier attempt died while processing
    (its lease ran out), so the MTA's retry is not lost. Two processes racing on PostgreSQL:
    the unique index lets exactly one insert win; the other waits for it, then sees it.
    Core statements, no ORM objects: this runs for every message received.
    """
    table = INBOUND
    conn = _conn(tx)
    # Every column named (the SQL lists them all); unknown keys in ``values`` are an error.
    row: dict[str, Any] = dict.fromkeys(_INBOUND_COLUMNS)
    row.update(values)
    if len(row) != len(_INBOUND_COLUMNS):
        raise ValueError(f"not columns of inbound_messages: {set(row) - set(_INBOUND_COLUMNS)}")
    row["status"] = row["status"] or "processing"
    row.update(details=values.get("details") or {}, dedupe_key=key, claimed_at=now)
    inserted = fastpath.execute(conn, "claim", _CLAIM_SQL, INBOUND, row)
    if inserted is not None:
        return Claim(int(inserted[0]), True, "new")
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


def get_inbound(tx: Session, inbound_id: int) -> InboundMessageRow | None:
    return tx.get(InboundMessageRow, inbound_id)


def finish_inbound(tx: Tx, inbound_id: int, **values: Any) -> None:
    """Record the outcome (and whatever else ``values`` names) of a claimed message."""
    table = INBOUND
    stmt = update(table).where(table.c.id == bindparam("b_inbound_id"))
    _conn(tx).execute(stmt, {"b_inbound_id": inbound_id, **values})


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


_EVENT_SQL = fastpath.insert_sql(EVENTS)


def add_event(tx: Tx, *, type: str, occurred_at: datetime, **values: Any) -> None:
    row: dict[str, Any] = dict.fromkeys(_EVENT_COLUMNS)
    row.update(values, type=type, occurred_at=occurred_at, data=values.get("data") or {})
    fastpath.execute(_conn(tx), "event", _EVENT_SQL, EVENTS, row)


def list_events(tx: Session, *, type: str | None = None, limit: int = 100) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if type is not None:
        query = query.where(EventRow.type == type)
    return list(tx.scalars(query))


# --- bounce scores and suppressions -----------------------------------------------------------


def _restart_or_add(column: str) -> str:
    # A score whose last bounce is older than the quiet period starts again from this bounce.
    return (
        f"{column} = CASE WHEN bounce_scores.last_bounce_at < :b_cutoff THEN excluded.{column} "
        f"ELSE bounce_scores.{column} + excluded.{column} END"
    )


_BOUNCE_SQL = fastpath.insert_sql(
    BOUNCE_SCORES,
    conflict="user_id",
    update=", ".join(
        [_restart_or_add(c) for c in ("score", "hard_count", "soft_count")]
        + ["last_bounce_at = excluded.last_bounce_at"]
    ),
    returning="score",
)


def add_bounce_score(
    tx: Tx, *, user_id: int, weight: float, hard: bool, now: datetime, quiet: timedelta
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
    [score] = fastpath.execute(
        _conn(tx), "bounce", _BOUNCE_SQL, BOUNCE_SCORES, params, extra_times=("b_cutoff",)
    )
    return float(score)


def get_bounce_score(tx: Session, user_id: int) -> BounceScoreRow | None:
    return tx.get(BounceScoreRow, user_id)


def suppress_user(
    tx: Tx,
    *,
    user_id: int,
    address: str | None,
    reason: str,
    now: datetime,
    details: Mapping[str, Any],
) -> bool:
    """Suppress a user's address; False when it already was (the user id is unique)."""
    stmt = _insert_for(tx)(SUPPRESSIONS).on_conflict_do_nothing(index_elements=["user_id"])
    result = _conn(tx).execute(
        stmt.returning(SUPPRESSIONS.c.id),
        {
            "user_id": user_id,
            "address": address,
            "reason": reason,
            "created_at": now,
            "details": dict(details),
        },
    )
    return result.scalar_one_or_none() is not None


def is_suppressed(tx: Tx, user_id: int) -> bool:
    query = select(SUPPRESSIONS.c.id).where(SUPPRESSIONS.c.user_id == user_id)
    return _conn(tx).execute(query).first() is not None


# --- notices (error emails) -------------------------------------------------------------------


def count_notices_since(tx: Tx, to_address: str, since: datetime) -> int:
    c = NOTICES.c
    query = (
        select(func.count(c.id))
        .where(c.to_address == to_address.lower())
        .where(c.created_at >= since)
        .where(c.status == "sent")
    )
    return int(_conn(tx).execute(query).scalar_one())


def add_notice(
    tx: Tx,
    *,
    to_address: str,
    kind: str,
    now: datetime,
    inbound_id: int | None,
    status: str,
    raw: bytes,
) -> None:
    _conn(tx).execute(
        NOTICES.insert(),
        {
            "to_address": to_address.lower(),
            "kind": kind,
            "created_at": now,
            "inbound_id": inbound_id,
            "status": status,
            "raw": raw,
        },
    )


# --- Message-IDs of sent copies ---------------------------------------------------------------


def normal_message_id(value: str) -> str:
    """A Message-ID as stored: without angle brackets or surrounding space (RFC 5322 3.6.4)."""
    return value.strip().removeprefix("<").removesuffix(">").strip()


def remember_message_id(
    tx: Tx,
    *,
    message_id: str,
    now: datetime,
    user_id: int | None = None,
    module: int | None = None,
    recipient: str | None = None,
    email_id: int | None = None,
    delivery_id: int | None = None,
    role: str = "copy",
) -> bool:
    """Record whose copy a Message-ID was; False when it was recorded already (kept as is)."""
    stmt = _insert_for(tx)(MESSAGE_IDS).on_conflict_do_nothing(index_elements=["message_id"])
    result = _conn(tx).execute(
        stmt.returning(MESSAGE_IDS.c.message_id),
        {
            "message_id": normal_message_id(message_id),
            "user_id": user_id,
            "module": module,
            "recipient": recipient,
            "email_id": email_id,
            "delivery_id": delivery_id,
            "role": role,
            "created_at": now,
        },
    )
    return result.scalar_one_or_none() is not None


def find_message_id(
    tx: Tx, *, message_id: str | None = None, delivery_id: int | None = None
) -> Any:
    """The copy a Message-ID (or a delivery id) belongs to, as a Core row, or None."""
    c = MESSAGE_IDS.c
    if message_id:
        query = select(MESSAGE_IDS).where(c.message_id == normal_message_id(message_id))
    elif delivery_id is not None:
        query = select(MESSAGE_IDS).where(c.delivery_id == delivery_id).order_by(c.created_at)
    else:
        return None
    return _conn(tx).execute(query.limit(1)).one_or_none()


def delete_message_ids_before(tx: Tx, cutoff: datetime) -> int:
    """Forget the Message-IDs of copies sent before ``cutoff`` (their bounces are long in)."""
    result = _conn(tx).execute(delete(MESSAGE_IDS).where(MESSAGE_IDS.c.created_at < cutoff))
    return int(result.rowcount or 0)
