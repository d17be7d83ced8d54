"""What became of the mail: suppressions, bounce scores, events and received messages, as
typed values for applications (``room.is_suppressed(...)``, ``room.events(...)``, ...).

Reads and the one write an application needs (lifting a suppression) over the store's
tables: ``suppressions``, ``bounce_scores``, ``events`` and ``inbound_messages`` (README,
"Outcomes from Python").
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from postroom.inbound.types import Outcome
from postroom.store.db import Database
from postroom.store.models import BounceScoreRow, EventRow, InboundMessageRow, SuppressionRow


class EventType(enum.StrEnum):
    """The one event taxonomy (API, webhooks, dashboard)."""

    QUEUED = "queued"
    SENT = "sent"
    DEFERRED = "deferred"
    FAILED = "failed"
    BOUNCED = "bounced"
    OPENED = "opened"
    CLICKED = "clicked"
    UNSUBSCRIBED = "unsubscribed"
    COMPLAINED = "complained"
    REPLIED = "replied"
    AUTO_REPLIED = "auto_replied"
    INBOUND_REJECTED = "inbound_rejected"
    #: A webhook endpoint was disabled (410 Gone, or failing for ``webhooks.disable_after``).
    WEBHOOK_DISABLED = "webhook_disabled"


@dataclass(frozen=True, slots=True)
class Suppression:
    """A user (and the address postroom sent to) that must not be mailed any more."""

    user_id: int | None
    address: str | None
    reason: str  # "bounces" or "complaint"
    created_at: datetime
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class BounceScore:
    """A user's running bounce score (it starts over after the quiet period)."""

    user_id: int
    score: float
    hard_count: int
    soft_count: int
    last_bounce_at: datetime


@dataclass(frozen=True, slots=True)
class Event:
    """One recorded event."""

    id: int
    type: EventType
    occurred_at: datetime
    user_id: int | None
    recipient: str | None
    email_id: int | None
    delivery_id: int | None
    module: int | None
    inbound_id: int | None
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One received message, its envelope, what was found in it and what became of it."""

    id: int
    received_at: datetime
    outcome: Outcome | None  # None while it is being handled
    status: str  # "processing", "done" or "failed" (kept for ``postroom replay``)
    kind: str | None
    address: str | None
    envelope_sender: str | None
    envelope_recipients: tuple[str, ...]
    message_id: str | None
    sender: str | None
    subject: str | None
    module: int | None
    user_id: int | None
    session_id: int | None
    error: str | None
    details: dict[str, Any]
    raw: bytes


def _needs_one(user: int | None, address: str | None) -> None:
    if user is None and address is None:
        raise ValueError("give a user, an address, or both")


def _suppressions(user: int | None, address: str | None) -> Any:
    query = select(SuppressionRow)
    if user is not None:
        query = query.where(SuppressionRow.user_id == user)
    if address is not None:
        query = query.where(func.lower(SuppressionRow.address) == address.strip().lower())
    return query


class Outcomes:
    """Queries over one database (``Postroom.outcomes``)."""

    def __init__(self, database: Database, clock: Callable[[], datetime]) -> None:
        self.database = database
        self.clock = clock

    def suppression(
        self, *, user: int | None = None, address: str | None = None
    ) -> Suppression | None:
        """The suppression of ``user`` and/or ``address`` (compared without case)."""
        _needs_one(user, address)
        with self.database.transaction() as tx:
            row = tx.scalars(_suppressions(user, address).limit(1)).first()
            if row is None:
                return None
            return Suppression(
                row.user_id, row.address, row.reason, row.created_at, dict(row.details or {})
            )

    def is_suppressed(self, *, user: int | None = None, address: str | None = None) -> bool:
        return self.suppression(user=user, address=address) is not None

    def lift_suppression(
        self, *, user: int | None = None, address: str | None = None, reset_score: bool = True
    ) -> int:
        """Lift the matching suppressions; returns how many. ``reset_score`` (default) also
        starts those users' bounce scores from zero, or the next bounce would suppress again."""
        _needs_one(user, address)
        with self.database.transaction() as tx:
            rows = list(tx.scalars(_suppressions(user, address)))
            users = {row.user_id for row in rows if row.user_id is not None}
            for row in rows:
                tx.delete(row)
            if reset_score and users:
                tx.execute(delete(BounceScoreRow).where(BounceScoreRow.user_id.in_(users)))
            return len(rows)

    def bounce_score(self, user: int) -> BounceScore | None:
        with self.database.transaction() as tx:
            row = tx.get(BounceScoreRow, user)
            if row is None:
                return None
            return BounceScore(
                row.user_id, row.score, row.hard_count, row.soft_count, row.last_bounce_at
            )

    def events(
        self,
        *,
        type: EventType | str | None = None,
        user: int | None = None,
        email: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[Event]:
        """Events, newest first, of one type, user or email, in ``since <= time < until``."""
        query = select(EventRow).order_by(EventRow.occurred_at.desc(), EventRow.id.desc())
        if type is not None:
            query = query.where(EventRow.type == str(EventType(type)))
        if user is not None:
            query = query.where(EventRow.user_id == user)
        if email is not None:
            query = query.where(EventRow.email_id == email)
        if since is not None:
            query = query.where(EventRow.occurred_at >= since)
        if until is not None:
            query = query.where(EventRow.occurred_at < until)
        with self.database.transaction() as tx:
            return [
                Event(
                    row.id,
                    EventType(row.type),
                    row.occurred_at,
                    row.user_id,
                    row.recipient,
                    row.email_id,
                    row.delivery_id,
                    row.module,
                    row.inbound_id,
                    dict(row.data or {}),
                )
                for row in tx.scalars(query.limit(limit))
            ]

    def inbound_message(self, inbound_id: int) -> InboundMessage | None:
        with self.database.transaction() as tx:
            row = tx.get(InboundMessageRow, inbound_id)
            if row is None:
                return None
            return InboundMessage(
                id=row.id,
                received_at=row.received_at,
                outcome=Outcome(row.outcome) if row.outcome else None,
                status=row.status,
                kind=row.kind,
                address=row.address,
                envelope_sender=row.envelope_sender,
                envelope_recipients=tuple(filter(None, (row.envelope_recipient or "").split(","))),
                message_id=row.message_id,
                sender=row.sender,
                subject=row.subject,
                module=row.module,
                user_id=row.user_id,
                session_id=row.session_id,
                error=row.error,
                details=dict(row.details or {}),
                raw=row.raw,
            )
