"""Repository functions: the only place that writes SQL. Each takes an open ORM session
(one unit of work, see :meth:`postroom.store.db.Database.transaction`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from postroom.store import inbound
from postroom.store.driver import Driver
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


def driver_of(tx: Tx) -> Driver:
    """The DB-API connection beneath ``tx``, inside its transaction (see store.inbound)."""
    conn = _conn(tx)
    return Driver(conn.connection.driver_connection, conn.dialect.name)


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


def find_session(tx: Tx, key: bytes) -> inbound.SessionRecord | None:
    """The session row with this key, or None."""
    return inbound.find_session(driver_of(tx), key)


def take_session_use(tx: Tx, session_id: int) -> bool:
    """Spend one use atomically; False when none was left (a concurrent reply took it)."""
    return inbound.take_session_use(driver_of(tx), session_id)


def give_back_session_use(tx: Tx, session_id: int) -> None:
    inbound.give_back_session_use(driver_of(tx), session_id)


def delete_sessions_expired_before(tx: Session, cutoff: datetime) -> int:
    result = tx.execute(delete(SessionRow).where(SessionRow.expires_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


# --- inbound messages --------------------------------------------------------------------------


dedupe_key = inbound.dedupe_key
Claim = inbound.Claim


def claim_inbound(
    tx: Tx, *, key: str, now: datetime, lease: timedelta, values: Mapping[str, Any]
) -> Claim:
    """See :func:`postroom.store.inbound.claim_inbound`."""
    return inbound.claim_inbound(driver_of(tx), key=key, now=now, lease=lease, values=values)


def get_inbound(tx: Session, inbound_id: int) -> InboundMessageRow | None:
    return tx.get(InboundMessageRow, inbound_id)


def finish_inbound(tx: Tx, inbound_id: int, **values: Any) -> None:
    """Record the outcome (and whatever else ``values`` names) of a claimed message."""
    inbound.finish_inbound(driver_of(tx), inbound_id, **values)


# --- events ------------------------------------------------------------------------------------


def add_event(tx: Tx, *, type: str, occurred_at: datetime, **values: Any) -> None:
    inbound.add_event(driver_of(tx), type=type, occurred_at=occurred_at, **values)


def list_events(tx: Session, *, type: str | None = None, limit: int = 100) -> list[EventRow]:
    query = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
    if type is not None:
        query = query.where(EventRow.type == type)
    return list(tx.scalars(query))


# --- bounce scores and suppressions -----------------------------------------------------------


def add_bounce_score(
    tx: Tx, *, user_id: int, weight: float, hard: bool, now: datetime, quiet: timedelta
) -> float:
    """See :func:`postroom.store.inbound.add_bounce_score`."""
    return inbound.add_bounce_score(
        driver_of(tx), user_id=user_id, weight=weight, hard=hard, now=now, quiet=quiet
    )


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
    return inbound.suppress_user(
        driver_of(tx), user_id=user_id, address=address, reason=reason, now=now, details=details
    )


def suppress_address(
    tx: Tx,
    *,
    address: str,
    user_id: int | None,
    reason: str,
    now: datetime,
    details: Mapping[str, Any],
) -> bool:
    """Suppress an address postroom sent to (and its user, when known); False when it already
    was. Addresses are stored lower-cased, as the send path looks them up."""
    address = address.strip().lower()
    if user_id is not None:
        return suppress_user(
            tx, user_id=user_id, address=address, reason=reason, now=now, details=details
        )
    conn = _conn(tx)
    if conn.execute(select(SUPPRESSIONS.c.id).where(SUPPRESSIONS.c.address == address)).first():
        return False
    conn.execute(
        SUPPRESSIONS.insert(),
        {
            "user_id": None,
            "address": address,
            "reason": reason,
            "created_at": now,
            "details": dict(details),
        },
    )
    return True


def is_suppressed(tx: Tx, user_id: int) -> bool:
    query = select(SUPPRESSIONS.c.id).where(SUPPRESSIONS.c.user_id == user_id)
    return _conn(tx).execute(query).first() is not None


# --- notices (error emails) -------------------------------------------------------------------


def count_notices_since(tx: Tx, to_address: str, since: datetime) -> int:
    return inbound.count_notices_since(driver_of(tx), to_address, since)


def add_notice(
    tx: Tx,
    *,
    to_address: str,
    kind: str,
    now: datetime,
    inbound_id: int | None,
    status: str,
    raw: bytes,
) -> int:
    return inbound.add_notice(
        driver_of(tx),
        to_address=to_address,
        kind=kind,
        now=now,
        inbound_id=inbound_id,
        status=status,
        raw=raw,
    )


# --- Message-IDs of sent copies ---------------------------------------------------------------


normal_message_id = inbound.normal_message_id


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
) -> inbound.MessageIdRecord | None:
    """The copy a Message-ID (or a delivery id) belongs to, or None."""
    return inbound.find_message_id(driver_of(tx), message_id=message_id, delivery_id=delivery_id)


def delete_message_ids_before(tx: Tx, cutoff: datetime) -> int:
    """Forget the Message-IDs of copies sent before ``cutoff`` (their bounces are long in)."""
    result = _conn(tx).execute(delete(MESSAGE_IDS).where(MESSAGE_IDS.c.created_at < cutoff))
    return int(result.rowcount or 0)
