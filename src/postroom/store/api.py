"""The reads (and the few writes) of the HTTP API over the store: pages of events, emails,
inbound messages and suppressions, one email with every recipient's timeline, sessions.

Every list is a keyset page (:mod:`postroom.store.keyset`) over an index, newest first, so a
page costs the same on the first day and with millions of rows: events by ``(occurred_at,
id)`` alone or behind the type, recipient, user or email they are filtered by; emails by
``(created_at, id)``; inbound messages and suppressions by id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, distinct, func, select, update

from postroom.store.keyset import Key, Page, after, page_of
from postroom.store.models import (
    AccountRow,
    BounceScoreRow,
    DeliveryRow,
    EmailRow,
    EventRow,
    InboundMessageRow,
    SessionRow,
    SuppressionRow,
)
from postroom.store.repos import Tx, _conn
from postroom.tracking.engagement import EmailEngagement

EVENTS = cast(Table, EventRow.__table__)
EMAILS = cast(Table, EmailRow.__table__)
DELIVERIES = cast(Table, DeliveryRow.__table__)
ACCOUNTS = cast(Table, AccountRow.__table__)
INBOUND = cast(Table, InboundMessageRow.__table__)
SESSIONS = cast(Table, SessionRow.__table__)
SUPPRESSIONS = cast(Table, SuppressionRow.__table__)
BOUNCE_SCORES = cast(Table, BounceScoreRow.__table__)


def _record(cls: Any, row: Any, **extra: Any) -> Any:
    values = {f.name: getattr(row, f.name) for f in fields(cls) if f.name not in extra}
    return cls(**values, **extra)


# --- events --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    type: str
    occurred_at: datetime
    email_id: int | None
    delivery_id: int | None
    recipient: str | None
    user_id: int | None
    module: int | None
    inbound_id: int | None
    machine: bool | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a page holds (all given conditions at once); times are ``since <= t <
    until``. ``recipient`` is compared without case (copies are stored lower-cased)."""

    type: str | None = None
    email_id: int | None = None
    delivery_id: int | None = None
    recipient: str | None = None
    user_id: int | None = None
    inbound_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None


def _event(row: Any) -> EventRecord:
    return cast(EventRecord, _record(EventRecord, row, data=dict(row.data or {})))


def event_page(tx: Tx, where: EventFilter, *, start: Key | None, limit: int) -> Page[EventRecord]:
    c = EVENTS.c
    query = select(EVENTS).order_by(c.occurred_at.desc(), c.id.desc()).limit(limit + 1)
    for column, value in (
        (c.type, where.type),
        (c.email_id, where.email_id),
        (c.delivery_id, where.delivery_id),
        (c.user_id, where.user_id),
        (c.inbound_id, where.inbound_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.recipient is not None:
        query = query.where(c.recipient == where.recipient.strip().lower())
    if where.since is not None:
        query = query.where(c.occurred_at >= where.since)
    if where.until is not None:
        query = query.where(c.occurred_at < where.until)
    if start is not None:
        query = query.where(after(start, c.id, c.occurred_at))
    rows = [_event(r) for r in _conn(tx).execute(query)]
    return page_of(rows, limit, lambda e: Key(e.id, e.occurred_at))


def get_event(tx: Tx, event_id: int) -> EventRecord | None:
    row = _conn(tx).execute(select(EVENTS).where(EVENTS.c.id == event_id)).first()
    return _event(row) if row is not None else None


# --- emails --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailSummary:
    id: int
    account: str
    subject: str
    message_id: str
    created_at: datetime
    recipients: int
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CopyTimeline:
    """One recipient's copy and every event of it, oldest first."""

    id: int
    address: str
    name: str | None
    role: str
    user_id: int | None
    status: str
    attempts: int
    last_code: int | None
    last_reply: str | None
    message_id: str
    reply_address: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime | None
    events: tuple[EventRecord, ...]


@dataclass(frozen=True, slots=True)
class EmailDetail:
    email: EmailSummary
    options: dict[str, Any]
    events: dict[str, int]
    copies: Page[CopyTimeline]


def _account_names(tx: Tx, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    c = ACCOUNTS.c
    return dict(_conn(tx).execute(select(c.id, c.name).where(c.id.in_(ids))).all())


def _status_counts(tx: Tx, email_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    d = DELIVERIES.c
    counts: dict[int, dict[str, int]] = {i: {} for i in email_ids}
    if email_ids:
        query = (
            select(d.email_id, d.status, func.count())
            .where(d.email_id.in_(email_ids))
            .group_by(d.email_id, d.status)
        )
        for email_id, status, count in _conn(tx).execute(query):
            counts[email_id][status] = count
    return counts


def _summaries(tx: Tx, rows: Sequence[Any]) -> list[EmailSummary]:
    names = _account_names(tx, {r.account_id for r in rows})
    counts = _status_counts(tx, [r.id for r in rows])
    return [
        EmailSummary(
            id=r.id,
            account=names.get(r.account_id, f"#{r.account_id}"),
            subject=r.subject,
            message_id=r.message_id,
            created_at=r.created_at,
            recipients=r.recipients,
            counts=counts[r.id],
        )
        for r in rows
    ]


def account_id(tx: Tx, name: str) -> int | None:
    c = ACCOUNTS.c
    return _conn(tx).execute(select(c.id).where(c.name == name)).scalar_one_or_none()


def email_page(
    tx: Tx,
    *,
    start: Key | None,
    limit: int,
    account_id: int | None = None,
    recipient: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Page[EmailSummary]:
    e = EMAILS.c
    query = select(EMAILS).order_by(e.created_at.desc(), e.id.desc()).limit(limit + 1)
    if account_id is not None:
        query = query.where(e.account_id == account_id)
    if recipient is not None:
        d = DELIVERIES.c
        sent_to = select(d.email_id).where(d.address == recipient.strip().lower())
        query = query.where(e.id.in_(sent_to))
    if since is not None:
        query = query.where(e.created_at >= since)
    if until is not None:
        query = query.where(e.created_at < until)
    if start is not None:
        query = query.where(after(start, e.id, e.created_at))
    rows = _conn(tx).execute(query).all()
    page = page_of(rows, limit, lambda r: Key(r.id, r.created_at))
    return Page(tuple(_summaries(tx, page.items)), page.next)


def email_detail(tx: Tx, email_id: int, *, start: Key | None, limit: int) -> EmailDetail | None:
    """The email, counts of its copies' states and events, and a page of its copies (by id)
    with each copy's events."""
    conn = _conn(tx)
    row = conn.execute(select(EMAILS).where(EMAILS.c.id == email_id)).first()
    if row is None:
        return None
    [summary] = _summaries(tx, [row])
    ev = EVENTS.c
    events: dict[str, int] = dict(
        conn.execute(
            select(ev.type, func.count()).where(ev.email_id == email_id).group_by(ev.type)
        ).all()
    )
    d = DELIVERIES.c
    query = select(DELIVERIES).where(d.email_id == email_id).order_by(d.id).limit(limit + 1)
    if start is not None:
        query = query.where(d.id > start.id)
    copies = conn.execute(query).all()
    page = page_of(copies, limit, lambda r: Key(r.id))
    by_copy: dict[int, list[EventRecord]] = {r.id: [] for r in page.items}
    if by_copy:
        timeline = (
            select(EVENTS)
            .where(ev.delivery_id.in_(list(by_copy)))
            .order_by(ev.delivery_id, ev.occurred_at, ev.id)
        )
        for event_row in conn.execute(timeline):
            by_copy[event_row.delivery_id].append(_event(event_row))
    items = tuple(
        CopyTimeline(
            id=r.id,
            address=r.address,
            name=r.name,
            role=r.role,
            user_id=r.user_id,
            status=r.status,
            attempts=r.attempts,
            last_code=r.last_code,
            last_reply=r.last_reply,
            message_id=r.message_id,
            reply_address=r.reply_address,
            created_at=r.created_at,
            sent_at=r.sent_at,
            next_attempt_at=r.next_attempt_at if r.status in ("queued", "deferred") else None,
            events=tuple(by_copy[r.id]),
        )
        for r in page.items
    )
    return EmailDetail(summary, dict(row.options or {}), events, Page(items, page.next))


def email_engagement(tx: Tx, email_id: int) -> EmailEngagement:
    """The email's opens and clicks summed in one query (the rules of
    :mod:`postroom.tracking.engagement`)."""
    ev = EVENTS.c
    opened, clicked, person = ev.type == "opened", ev.type == "clicked", ev.machine.is_(False)
    anonymous = ev.delivery_id.is_(None)

    def count(condition: Any) -> Any:
        return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)

    def unique(condition: Any) -> Any:
        return func.count(distinct(case((condition, ev.delivery_id))))

    row = (
        _conn(tx)
        .execute(
            select(
                count(opened),
                count(and_(opened, person)),
                count(clicked),
                count(and_(clicked, person)),
                unique(opened),
                unique(and_(opened, person)),
                unique(clicked),
                unique(and_(clicked, person)),
                func.min(case((and_(opened, person), ev.occurred_at)), type_=ev.occurred_at.type),
                count(and_(opened, anonymous)),
                count(and_(clicked, anonymous)),
            ).where(ev.email_id == email_id, ev.type.in_(("opened", "clicked")))
        )
        .one()
    )
    n = [int(value or 0) for value in row[:8]]
    return EmailEngagement(
        opens=n[0],
        human_opens=n[1],
        clicks=n[2],
        human_clicks=n[3],
        unique_opens=n[4],
        unique_human_opens=n[5],
        unique_clicks=n[6],
        unique_human_clicks=n[7],
        first_human_open_at=row[8],
        anonymous_opens=int(row[9] or 0),
        anonymous_clicks=int(row[10] or 0),
    )


# --- inbound messages ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InboundRecord:
    id: int
    received_at: datetime
    status: str
    outcome: str | None
    kind: str | None
    address: str | None
    envelope_sender: str | None
    envelope_recipient: str | None
    message_id: str | None
    sender: str | None
    subject: str | None
    module: int | None
    user_id: int | None
    session_id: int | None
    error: str | None
    details: dict[str, Any]
    size: int


_INBOUND_COLUMNS = [c for c in INBOUND.c if c.name not in ("raw", "dedupe_key", "claimed_at")]


def _inbound_query() -> Any:
    return select(*_INBOUND_COLUMNS, func.length(INBOUND.c.raw).label("size"))


def _inbound(row: Any) -> InboundRecord:
    return cast(InboundRecord, _record(InboundRecord, row, details=dict(row.details or {})))


def inbound_page(
    tx: Tx,
    *,
    start: Key | None,
    limit: int,
    status: str | None = None,
    outcome: str | None = None,
) -> Page[InboundRecord]:
    c = INBOUND.c
    query = _inbound_query().order_by(c.id.desc()).limit(limit + 1)
    if status is not None:
        query = query.where(c.status == status)
    if outcome is not None:
        query = query.where(c.outcome == outcome)
    if start is not None:
        query = query.where(after(start, c.id))
    rows = [_inbound(r) for r in _conn(tx).execute(query)]
    return page_of(rows, limit, lambda r: Key(r.id))


def get_inbound(tx: Tx, inbound_id: int) -> InboundRecord | None:
    row = _conn(tx).execute(_inbound_query().where(INBOUND.c.id == inbound_id)).first()
    return _inbound(row) if row is not None else None


def inbound_raw(tx: Tx, inbound_id: int) -> bytes | None:
    c = INBOUND.c
    raw = _conn(tx).execute(select(c.raw).where(c.id == inbound_id)).scalar_one_or_none()
    return bytes(raw) if raw is not None else None


# --- sessions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    id: int
    module: int
    user_id: int
    data: Any
    created_at: datetime
    expires_at: datetime
    uses_left: int | None
    use_count: int
    delivery_id: int | None
    address: str | None


def _sessions() -> Any:
    return select(*[c for c in SESSIONS.c if c.name != "key"])


def get_session(tx: Tx, session_id: int) -> SessionInfo | None:
    row = _conn(tx).execute(_sessions().where(SESSIONS.c.id == session_id)).first()
    return cast(SessionInfo, _record(SessionInfo, row)) if row is not None else None


def session_id_by_key(tx: Tx, key: bytes) -> int | None:
    c = SESSIONS.c
    return _conn(tx).execute(select(c.id).where(c.key == key)).scalar_one_or_none()


def expire_session(tx: Tx, session_id: int, *, now: datetime) -> None:
    """End a session now: replies to its address are answered as to an expired one."""
    c = SESSIONS.c
    _conn(tx).execute(
        update(SESSIONS).where(c.id == session_id, c.expires_at > now).values(expires_at=now)
    )


# --- suppressions --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SuppressionRecord:
    id: int
    user_id: int | None
    address: str | None
    reason: str
    created_at: datetime
    details: dict[str, Any]


def _suppression(row: Any) -> SuppressionRecord:
    return cast(SuppressionRecord, _record(SuppressionRecord, row, details=dict(row.details or {})))


def suppression_page(
    tx: Tx,
    *,
    start: Key | None,
    limit: int,
    reason: str | None = None,
    address: str | None = None,
    user_id: int | None = None,
) -> Page[SuppressionRecord]:
    c = SUPPRESSIONS.c
    query = select(SUPPRESSIONS).order_by(c.id.desc()).limit(limit + 1)
    if reason is not None:
        query = query.where(c.reason == reason)
    if address is not None:
        query = query.where(c.address == address.strip().lower())
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    if start is not None:
        query = query.where(after(start, c.id))
    rows = [_suppression(r) for r in _conn(tx).execute(query)]
    return page_of(rows, limit, lambda r: Key(r.id))


def get_suppression(tx: Tx, suppression_id: int) -> SuppressionRecord | None:
    c = SUPPRESSIONS.c
    row = _conn(tx).execute(select(SUPPRESSIONS).where(c.id == suppression_id)).first()
    return _suppression(row) if row is not None else None


def find_suppression(
    tx: Tx, *, address: str | None = None, user_id: int | None = None
) -> SuppressionRecord | None:
    c = SUPPRESSIONS.c
    query = select(SUPPRESSIONS)
    if address is not None:
        query = query.where(c.address == address.strip().lower())
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    row = _conn(tx).execute(query.limit(1)).first()
    return _suppression(row) if row is not None else None


def delete_suppression(tx: Tx, suppression_id: int, *, reset_score: bool) -> None:
    """Lift one suppression; ``reset_score`` also restarts its user's bounce score (else the
    next bounce would suppress the user again at once)."""
    conn = _conn(tx)
    c = SUPPRESSIONS.c
    user_id = conn.execute(select(c.user_id).where(c.id == suppression_id)).scalar_one_or_none()
    conn.execute(delete(SUPPRESSIONS).where(c.id == suppression_id))
    if reset_score and user_id is not None:
        conn.execute(delete(BOUNCE_SCORES).where(BOUNCE_SCORES.c.user_id == user_id))
