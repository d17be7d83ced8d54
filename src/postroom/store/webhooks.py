"""Repository functions of webhooks: endpoints, their messages (the delivery outbox), and the
fan-out of new events into messages.

The fan-out reads ``events`` by id after each endpoint's ``cursor`` and inserts one message
per (endpoint, event), unique on that pair, so an event is never queued twice for an endpoint
however many workers fan out at once. On PostgreSQL the endpoint row is locked ``FOR UPDATE
SKIP LOCKED`` while its batch is written: two workers never fan out the same endpoint at once.

Ids of concurrent transactions may commit out of order on PostgreSQL (a sequence hands out
ids before commit): the cursor only moves over a gap in the ids once the event after it is
:data:`GAP_WAIT` old, so an event committed late is still found. A gap left by a rolled-back
insert costs that wait once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, update

from postroom.store import queue
from postroom.store.models import EventRow, WebhookEndpointRow, WebhookMessageRow
from postroom.store.repos import Tx, _conn, _insert_for

ENDPOINTS = cast(Table, WebhookEndpointRow.__table__)
MESSAGES = cast(Table, WebhookMessageRow.__table__)
EVENTS = cast(Table, EventRow.__table__)

DELIVER = "webhook"
GAP_WAIT = timedelta(seconds=10)
FANOUT_BATCH = 500
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    id: int
    url: str
    secret: str
    event_types: tuple[str, ...]
    handler: str | None
    description: str
    created_at: datetime
    cursor: int
    failing_since: datetime | None
    disabled_at: datetime | None
    disabled_reason: str | None

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


@dataclass(frozen=True, slots=True)
class MessageRecord:
    id: int
    endpoint_id: int
    event_id: int | None
    msg_id: str
    event_type: str
    payload: Any
    status: str
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _endpoint(row: Any) -> EndpointRecord:
    m = row._mapping
    return EndpointRecord(
        id=m["id"],
        url=m["url"],
        secret=m["secret"],
        event_types=tuple(m["event_types"] or ()),
        handler=m["handler"],
        description=m["description"],
        created_at=m["created_at"],
        cursor=m["cursor"],
        failing_since=m["failing_since"],
        disabled_at=m["disabled_at"],
        disabled_reason=m["disabled_reason"],
    )


def _message(row: Any) -> MessageRecord:
    return MessageRecord(**{name: row._mapping[name] for name in MessageRecord.__slots__})


# --- endpoints -----------------------------------------------------------------------------


def add_endpoint(
    tx: Tx,
    *,
    url: str,
    secret: str,
    event_types: Sequence[str],
    handler: str | None,
    description: str,
    now: datetime,
) -> EndpointRecord:
    """A new endpoint; it receives the events recorded from now on (not the past ones)."""
    conn = _conn(tx)
    latest = conn.execute(select(func.max(EVENTS.c.id))).scalar_one_or_none() or 0
    new_id = conn.execute(
        ENDPOINTS.insert()
        .values(
            url=url,
            secret=secret,
            event_types=list(event_types),
            handler=handler,
            description=description,
            created_at=now,
            cursor=int(latest),
        )
        .returning(ENDPOINTS.c.id)
    ).scalar_one()
    record = get_endpoint(tx, int(new_id))
    assert record is not None
    return record


def get_endpoint(tx: Tx, endpoint_id: int) -> EndpointRecord | None:
    row = _conn(tx).execute(select(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id)).first()
    return None if row is None else _endpoint(row)


def find_handler_endpoint(tx: Tx, handler: str) -> EndpointRecord | None:
    row = _conn(tx).execute(select(ENDPOINTS).where(ENDPOINTS.c.handler == handler)).first()
    return None if row is None else _endpoint(row)


def list_endpoints(tx: Tx) -> list[EndpointRecord]:
    rows = _conn(tx).execute(select(ENDPOINTS).order_by(ENDPOINTS.c.id))
    return [_endpoint(row) for row in rows]


def delete_endpoint(tx: Tx, endpoint_id: int) -> bool:
    """Remove an endpoint and its messages (their jobs find nothing and end)."""
    conn = _conn(tx)
    conn.execute(delete(MESSAGES).where(MESSAGES.c.endpoint_id == endpoint_id))
    result = conn.execute(delete(ENDPOINTS).where(ENDPOINTS.c.id == endpoint_id))
    return bool(result.rowcount)


def enable_endpoint(tx: Tx, endpoint_id: int) -> bool:
    """Deliver to a disabled endpoint again (from the events recorded from now on)."""
    conn = _conn(tx)
    latest = conn.execute(select(func.max(EVENTS.c.id))).scalar_one_or_none() or 0
    result = conn.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == endpoint_id)
        .where(ENDPOINTS.c.disabled_at.is_not(None))
        .values(disabled_at=None, disabled_reason=None, failing_since=None, cursor=int(latest))
    )
    return bool(result.rowcount)


# --- fan-out -------------------------------------------------------------------------------


def _cursor_end(cursor: int, events: Sequence[Any], now: datetime) -> int:
    """How far the cursor may move over ``events`` (sorted by id): up to the first gap in
    the ids whose next event is younger than GAP_WAIT."""
    end = cursor
    for event in events:
        if event.id != end + 1 and now - event.occurred_at < GAP_WAIT:
            break
        end = event.id
    return end


def fan_out_endpoint(tx: Tx, endpoint_id: int, *, now: datetime) -> tuple[int, bool]:
    """Queue the new events for one endpoint (a batch); returns how many messages were
    queued and whether more events may follow (a full batch the cursor went all through).
    Another worker fanning out the same endpoint now makes this one skip it."""
    conn = _conn(tx)
    locked = conn.execute(
        select(ENDPOINTS)
        .where(ENDPOINTS.c.id == endpoint_id)
        .where(ENDPOINTS.c.disabled_at.is_(None))
        .where(ENDPOINTS.c.handler.is_(None))
        .with_for_update(skip_locked=True)
    ).first()
    if locked is None:
        return 0, False
    endpoint = _endpoint(locked)
    events = conn.execute(
        select(EVENTS)
        .where(EVENTS.c.id > endpoint.cursor)
        .order_by(EVENTS.c.id)
        .limit(FANOUT_BATCH)
    ).all()
    if not events:
        return 0, False
    from postroom.webhooks.payloads import event_payload
    from postroom.webhooks.signing import new_msg_id

    rows = [
        {
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "msg_id": new_msg_id(),
            "event_type": event.type,
            "payload": event_payload(dict(event._mapping)),
            "status": PENDING,
            "attempts": 0,
            "created_at": now,
        }
        for event in events
        if endpoint.wants(event.type)
    ]
    queued = 0
    if rows:
        # executemany, batched by SQLAlchemy into multi-row statements ("insertmanyvalues",
        # RETURNING included) on both backends, and cached unlike a literal multi-row VALUES.
        insert = _insert_for(tx)
        new_ids = (
            conn.execute(
                insert(MESSAGES)
                .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
                .returning(MESSAGES.c.id),
                rows,
            )
            .scalars()
            .all()
        )
        if new_ids:
            jobs = [
                {
                    "kind": DELIVER,
                    "payload": {"message_id": int(new_id)},
                    "status": "queued",
                    "run_at": now,
                    "attempts": 0,
                    "max_attempts": 1000,
                    "unique_key": f"{DELIVER}:{new_id}",
                    "created_at": now,
                }
                for new_id in new_ids
            ]
            conn.execute(
                insert(queue.JOBS).on_conflict_do_nothing(index_elements=["unique_key"]), jobs
            )
        queued = len(new_ids)
    end = _cursor_end(endpoint.cursor, events, now)
    if end != endpoint.cursor:
        conn.execute(update(ENDPOINTS).where(ENDPOINTS.c.id == endpoint.id).values(cursor=end))
    return queued, len(events) == FANOUT_BATCH and end == events[-1].id


def event_endpoint_ids(tx: Tx) -> list[int]:
    """Enabled endpoints that take events (not replies)."""
    c = ENDPOINTS.c
    rows = _conn(tx).execute(
        select(c.id).where(c.disabled_at.is_(None)).where(c.handler.is_(None)).order_by(c.id)
    )
    return [int(row[0]) for row in rows]


# --- messages ------------------------------------------------------------------------------


def get_message(tx: Tx, message_id: int) -> MessageRecord | None:
    row = _conn(tx).execute(select(MESSAGES).where(MESSAGES.c.id == message_id)).first()
    return None if row is None else _message(row)


def list_messages(
    tx: Tx,
    endpoint_id: int,
    *,
    status: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[MessageRecord]:
    """An endpoint's messages, newest first (``before``: ids below this one)."""
    c = MESSAGES.c
    stmt = select(MESSAGES).where(c.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(c.status == status)
    if before is not None:
        stmt = stmt.where(c.id < before)
    rows = _conn(tx).execute(stmt.order_by(c.id.desc()).limit(limit))
    return [_message(row) for row in rows]


def record_delivered(tx: Tx, message: MessageRecord, *, status: int, now: datetime) -> None:
    conn = _conn(tx)
    conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == message.id)
        .values(
            status=DELIVERED,
            attempts=MESSAGES.c.attempts + 1,
            last_status=status,
            last_error=None,
            delivered_at=now,
        )
    )
    conn.execute(
        update(ENDPOINTS).where(ENDPOINTS.c.id == message.endpoint_id).values(failing_since=None)
    )


def record_failed_attempt(
    tx: Tx, message: MessageRecord, *, status: int | None, error: str, now: datetime
) -> datetime:
    """Count a failed attempt; returns since when the endpoint has been failing."""
    conn = _conn(tx)
    conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == message.id)
        .values(attempts=MESSAGES.c.attempts + 1, last_status=status, last_error=error[:2000])
    )
    c = ENDPOINTS.c
    conn.execute(
        update(ENDPOINTS)
        .where(c.id == message.endpoint_id)
        .where(c.failing_since.is_(None))
        .values(failing_since=now)
    )
    since = conn.execute(select(c.failing_since).where(c.id == message.endpoint_id)).scalar()
    return since if isinstance(since, datetime) else now


def fail_message(tx: Tx, message_id: int, error: str) -> None:
    _conn(tx).execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == message_id)
        .where(MESSAGES.c.status == PENDING)
        .values(status=FAILED, last_error=error[:2000])
    )


def disable_endpoint(tx: Tx, endpoint_id: int, *, reason: str, now: datetime) -> bool:
    """Disable an endpoint and fail its pending messages; False when it was disabled
    already (another worker did it)."""
    conn = _conn(tx)
    result = conn.execute(
        update(ENDPOINTS)
        .where(ENDPOINTS.c.id == endpoint_id)
        .where(ENDPOINTS.c.disabled_at.is_(None))
        .values(disabled_at=now, disabled_reason=reason[:2000])
    )
    if not result.rowcount:
        return False
    conn.execute(
        update(MESSAGES)
        .where(MESSAGES.c.endpoint_id == endpoint_id)
        .where(MESSAGES.c.status == PENDING)
        .values(status=FAILED, last_error=f"endpoint disabled: {reason}"[:2000])
    )
    return True


def delete_finished_messages(tx: Tx, before: datetime) -> int:
    """Delivered and failed messages created before ``before`` (the daily prune)."""
    c = MESSAGES.c
    result = _conn(tx).execute(
        delete(MESSAGES).where(c.status.in_((DELIVERED, FAILED))).where(c.created_at < before)
    )
    return int(result.rowcount or 0)


def add_event(tx: Tx, *, type: str, now: datetime, data: dict[str, Any]) -> None:
    _conn(tx).execute(EVENTS.insert().values(type=type, occurred_at=now, data=data))
