"""Tables. Schema changes only through Alembic migrations (``store/migrations``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Float,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from postroom.store.text import storable_json, storable_text


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use datetime.now(UTC)")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        from datetime import UTC

        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class MailText(TypeDecorator[str]):
    """Text that may come from mail: NUL and lone surrogates are stored as U+FFFD
    (see :mod:`postroom.store.text`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else storable_text(value)


class MailString(TypeDecorator[str]):
    """A bounded string that may come from mail (see :class:`MailText`)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        return None if value is None else storable_text(value)


class MailJSON(TypeDecorator[Any]):
    """JSON whose strings may come from mail (see :func:`postroom.store.text.storable_json`)."""

    impl = JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else json.loads(storable_json(value))


# BigInteger primary keys autoincrement on PostgreSQL; SQLite only does that for INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class SessionRow(Base):
    """An email session: what a reply address stands for (RFC-free, postroom's own)."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key: Mapped[bytes] = mapped_column(LargeBinary(16), unique=True)
    module: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    uses_left: Mapped[int | None] = mapped_column(Integer, nullable=True)
    use_count: Mapped[int] = mapped_column(Integer, default=0)
    # The address this session's reply address was sent to (given by the application): a
    # bounce or complaint counts against the user only when it names this address.
    address: Mapped[str | None] = mapped_column(MailText, nullable=True)


class InboundMessageRow(Base):
    """One received message for one of our addresses, raw bytes kept for replay."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    envelope_sender: Mapped[str | None] = mapped_column(MailText, nullable=True)
    envelope_recipient: Mapped[str | None] = mapped_column(MailText, nullable=True)
    address: Mapped[str | None] = mapped_column(MailText, nullable=True)
    message_id: Mapped[str | None] = mapped_column(MailText, nullable=True)
    sender: Mapped[str | None] = mapped_column(MailText, nullable=True)
    subject: Mapped[str | None] = mapped_column(MailText, nullable=True)
    module: Mapped[int | None] = mapped_column(Integer, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    session_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)
    error: Mapped[str | None] = mapped_column(MailText, nullable=True)
    details: Mapped[Any] = mapped_column(MailJSON, default=dict)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class EventRow(Base):
    """One event of the taxonomy in DESIGN.md (replied, bounced, auto_replied, ...)."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_type_time", "type", "occurred_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    email_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    recipient: Mapped[str | None] = mapped_column(MailText, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    module: Mapped[int | None] = mapped_column(Integer, nullable=True)
    inbound_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    machine: Mapped[bool | None] = mapped_column(nullable=True)
    data: Mapped[Any] = mapped_column(MailJSON, default=dict)


class BounceScoreRow(Base):
    """Running bounce score of one user (only verified addresses ever add to it)."""

    __tablename__ = "bounce_scores"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    hard_count: Mapped[int] = mapped_column(Integer, default=0)
    soft_count: Mapped[int] = mapped_column(Integer, default=0)
    last_bounce_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SuppressionRow(Base):
    """A user (and, when known, the address) that postroom must not mail any more."""

    __tablename__ = "suppressions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, unique=True)
    address: Mapped[str | None] = mapped_column(MailText, nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    details: Mapped[Any] = mapped_column(MailJSON, default=dict)


class NoticeRow(Base):
    """An error email written to a sender (kept for the throttle and for the record)."""

    __tablename__ = "notices"
    __table_args__ = (Index("ix_notices_to_time", "to_address", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    to_address: Mapped[str] = mapped_column(MailText)
    kind: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    inbound_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    status: Mapped[str] = mapped_column(String(20))
    raw: Mapped[bytes] = mapped_column(LargeBinary)


class MessageIdRow(Base):
    """A Message-ID postroom or the application sent under, and whose copy it was.

    A bounce or complaint that reaches no address of ours but quotes one of these (the
    returned message's header, RFC 3464 section 2 / RFC 5965 section 2) counts against the
    user the copy went to. ``delivery_id`` ties a VERP return path to the same copy.
    """

    __tablename__ = "message_ids"

    message_id: Mapped[str] = mapped_column(MailString(998), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    module: Mapped[int | None] = mapped_column(Integer, nullable=True)
    recipient: Mapped[str | None] = mapped_column(MailText, nullable=True)
    email_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    role: Mapped[str] = mapped_column(String(16), default="copy")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
