"""The dashboard's reads beyond the API's (:mod:`postroom.store.api`): what each email's
copies came to (counts of states and of events), search, opens and clicks per day, bounces
by reason, users over their bounce threshold, and pages of sessions and accounts.

Each list is a keyset page over an index, as the API's are; the aggregates read one time
window of one event type through ``ix_events_type_time``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, or_, select

from postroom.store.api import (
    ACCOUNTS,
    BOUNCE_SCORES,
    DELIVERIES,
    EMAILS,
    EVENTS,
    SESSIONS,
    EmailSummary,
    SessionInfo,
    _summaries,
)
from postroom.store.keyset import Key, Page, after, page_of
from postroom.store.models import MessageIdRow
from postroom.store.repos import Tx, _conn

MESSAGE_IDS = cast(Table, MessageIdRow.__table__)

#: Open and click labels (DESIGN.md: human, apple_privacy, gmail_proxy, other_proxy, scanner).
HUMAN = "human"
MACHINE = "machine"


def event_label(row: Any) -> str | None:
    """Who opened or clicked: the event's ``label`` column when the store has one, else a
    label kept in its data, else ``human`` or ``machine`` from the ``machine`` flag."""
    mapping = getattr(row, "_mapping", None)
    label = mapping.get("label") if mapping is not None else getattr(row, "label", None)
    if label:
        return str(label)
    data = (mapping.get("data") if mapping is not None else getattr(row, "data", None)) or {}
    if isinstance(data, dict) and data.get("label"):
        return str(data["label"])
    machine = mapping.get("machine") if mapping is not None else getattr(row, "machine", None)
    if machine is None:
        return None
    return MACHINE if machine else HUMAN


def _label_column() -> Any:
    return EVENTS.c.label if "label" in EVENTS.c else None


# --- emails: what every copy came to -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EmailRow:
    """One line of the email list: the email, its copies' states and its events by kind
    (``opened:human``, ``opened:machine``, ``clicked:human``, ``replied``, ...)."""

    email: EmailSummary
    events: dict[str, int]


def _event_counts(tx: Tx, email_ids: Sequence[int]) -> dict[int, dict[str, int]]:
    counts: dict[int, dict[str, int]] = {i: defaultdict(int) for i in email_ids}
    if not email_ids:
        return counts
    ev = EVENTS.c
    label = _label_column()
    columns = [ev.email_id, ev.type, ev.machine] + ([label] if label is not None else [])
    query = select(*columns, func.count()).where(ev.email_id.in_(email_ids)).group_by(*columns)
    for row in _conn(tx).execute(query):
        kind = row.type
        if kind in ("opened", "clicked"):
            kind = f"{kind}:{event_label(row) or 'unknown'}"
        counts[row.email_id][kind] += row[-1]
    return {k: dict(v) for k, v in counts.items()}


def email_rows(
    tx: Tx,
    *,
    start: Key | None,
    limit: int,
    query: str | None = None,
) -> Page[EmailRow]:
    """A page of emails, newest first. ``query``: an address (every email sent to it), a
    Message-ID (the email's or one copy's), or words of the subject."""
    e = EMAILS.c
    select_emails = select(EMAILS).order_by(e.created_at.desc(), e.id.desc()).limit(limit + 1)
    text = (query or "").strip()
    if text:
        d = DELIVERIES.c
        ids = MESSAGE_IDS.c
        bare = text.strip("<>").strip()
        if "@" in bare and " " not in bare:
            # An address or a Message-ID (with or without its angle brackets): both are
            # looked up by an index, the copies' addresses and every Message-ID sent.
            sent_to = select(d.email_id).where(d.address == bare.lower())
            by_id = select(ids.email_id).where(ids.message_id == bare, ids.email_id.is_not(None))
            select_emails = select_emails.where(or_(e.id.in_(sent_to), e.id.in_(by_id)))
        else:
            select_emails = select_emails.where(e.subject.contains(text, autoescape=True))
    if start is not None:
        select_emails = select_emails.where(after(start, e.id, e.created_at))
    rows = _conn(tx).execute(select_emails).all()
    page = page_of(rows, limit, lambda r: Key(r.id, r.created_at))
    summaries = _summaries(tx, page.items)
    events = _event_counts(tx, [s.id for s in summaries])
    return Page(tuple(EmailRow(s, events[s.id]) for s in summaries), page.next)


# --- charts and bounces ------------------------------------------------------------------------


def per_day(tx: Tx, kind: str, *, since: datetime, until: datetime) -> dict[str, dict[str, int]]:
    """Events of ``kind`` per UTC day (``YYYY-MM-DD``) and label in ``[since, until)``."""
    ev = EVENTS.c
    label = _label_column()
    columns = [ev.occurred_at, ev.machine, ev.data] + ([label] if label is not None else [])
    query = select(*columns).where(ev.type == kind, ev.occurred_at >= since, ev.occurred_at < until)
    days: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in _conn(tx).execute(query):
        moment = row.occurred_at
        day = moment.strftime("%Y-%m-%d") if isinstance(moment, datetime) else str(moment)[:10]
        days[day][HUMAN if event_label(row) == HUMAN else MACHINE] += 1
    return {day: dict(values) for day, values in days.items()}


@dataclass(frozen=True, slots=True)
class BounceCount:
    reason: str
    hard: bool
    count: int


def bounces_by_reason(tx: Tx, *, since: datetime) -> list[BounceCount]:
    ev = EVENTS.c
    reason = ev.data["reason"].as_string()
    hard = ev.data["hard"].as_boolean()
    query = (
        select(reason, hard, func.count())
        .where(ev.type == "bounced", ev.occurred_at >= since)
        .group_by(reason, hard)
        .order_by(func.count().desc())
    )
    return [
        BounceCount(str(r or "unknown"), bool(h), int(n)) for r, h, n in _conn(tx).execute(query)
    ]


@dataclass(frozen=True, slots=True)
class OverThreshold:
    user_id: int
    score: float
    hard_count: int
    soft_count: int
    last_bounce_at: datetime


def over_threshold(tx: Tx, threshold: float, *, limit: int = 200) -> list[OverThreshold]:
    b = BOUNCE_SCORES.c
    query = select(BOUNCE_SCORES).where(b.score >= threshold).order_by(b.score.desc()).limit(limit)
    return [
        OverThreshold(r.user_id, r.score, r.hard_count, r.soft_count, r.last_bounce_at)
        for r in _conn(tx).execute(query)
    ]


# --- sessions and accounts ---------------------------------------------------------------------


def session_page(
    tx: Tx, *, start: Key | None, limit: int, user_id: int | None = None
) -> Page[SessionInfo]:
    c = SESSIONS.c
    query = select(*[col for col in SESSIONS.c if col.name != "key"])
    query = query.order_by(c.id.desc()).limit(limit + 1)
    if user_id is not None:
        query = query.where(c.user_id == user_id)
    if start is not None:
        query = query.where(after(start, c.id))
    fields = SessionInfo.__dataclass_fields__
    rows = [SessionInfo(**{k: getattr(r, k) for k in fields}) for r in _conn(tx).execute(query)]
    return page_of(rows, limit, lambda s: Key(s.id))


def account_ids(tx: Tx) -> list[int]:
    return [int(i) for i in _conn(tx).execute(select(ACCOUNTS.c.id).order_by(ACCOUNTS.c.id))]


def replies_to_copies(tx: Tx, copies: Sequence[Any]) -> dict[int, list[Any]]:
    """``replied`` events of these copies, by copy id. A reply's event names its session
    (``data.session_id``), not the copy, so they are found through the sessions issued for
    the copies and the events of the copies' users (``ix_events`` on user_id)."""
    from postroom.store.api import _event

    conn = _conn(tx)
    s = SESSIONS.c
    copy_ids = [c.id for c in copies]
    users = {c.user_id for c in copies if c.user_id is not None}
    if not copy_ids or not users:
        return {}
    owner = dict(conn.execute(select(s.id, s.delivery_id).where(s.delivery_id.in_(copy_ids))).all())
    if not owner:
        return {}
    ev = EVENTS.c
    query = (
        select(EVENTS)
        .where(ev.user_id.in_(users), ev.type == "replied")
        .order_by(ev.occurred_at, ev.id)
        .limit(5000)
    )
    found: dict[int, list[Any]] = defaultdict(list)
    for row in conn.execute(query):
        session_id = (row.data or {}).get("session_id")
        if session_id in owner:
            found[owner[session_id]].append(_event(row))
    return dict(found)
