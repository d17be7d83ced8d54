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
    UniqueConstraint,
    text,
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
    # The copy this session's reply address was sent in, when postroom sent it.
    delivery_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # The address this session's reply address was sent to (given by the application): a
    # bounce or complaint counts against the user only when it names this address.
    address: Mapped[str | None] = mapped_column(MailText, nullable=True)


class InboundMessageRow(Base):
    """One received message for one of our addresses, raw bytes kept for replay."""

    __tablename__ = "inbound_messages"
    __table_args__ = (Index("ix_inbound_messages_outcome", "outcome"),)

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
    __table_args__ = (
        Index("ix_events_type_time", "type", "occurred_at"),
        Index("ix_events_email", "email_id", "id"),
        Index("ix_events_delivery", "delivery_id", "id"),
        # The API's keyset pages (store/api.py): newest first, alone or by recipient, email
        # or inbound message (partial: most events have none).
        Index("ix_events_time", "occurred_at", "id"),
        Index("ix_events_recipient_time", "recipient", "occurred_at", "id"),
        Index("ix_events_email_time", "email_id", "occurred_at", "id"),
        Index(
            "ix_events_inbound",
            "inbound_id",
            sqlite_where=text("inbound_id IS NOT NULL"),
            postgresql_where=text("inbound_id IS NOT NULL"),
        ),
    )

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
    """A user (and, when known, the address) that postroom must not mail any more.

    Addresses are stored lower-cased (the domain is case-insensitive, RFC 5321 section 2.4,
    and in practice local parts are too), so the send path looks them up by equality."""

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


# --- the sending half ---------------------------------------------------------------------------


class AccountRow(Base):
    """A sender's own SMTP (and IMAP) account. Secrets live encrypted in ``secret``
    (see :mod:`postroom.accounts.secrets`); nothing else here is secret."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    from_address: Mapped[str] = mapped_column(Text)
    from_name: Mapped[str | None] = mapped_column(Text, nullable=True)
    smtp_host: Mapped[str] = mapped_column(Text)
    smtp_port: Mapped[int] = mapped_column(Integer)
    smtp_security: Mapped[str] = mapped_column(String(10))
    smtp_auth: Mapped[str] = mapped_column(String(10))
    smtp_username: Mapped[str | None] = mapped_column(Text, nullable=True)
    imap_host: Mapped[str | None] = mapped_column(Text, nullable=True)
    imap_port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    imap_security: Mapped[str | None] = mapped_column(String(10), nullable=True)
    imap_username: Mapped[str | None] = mapped_column(Text, nullable=True)
    envelope: Mapped[str] = mapped_column(String(10))
    limits: Mapped[Any] = mapped_column(JSON, default=dict)
    secret: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pause_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[Any] = mapped_column(JSON, default=dict)
    last_test: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class EmailRow(Base):
    """One logical email: its template (built once) and the options its copies share."""

    __tablename__ = "emails"
    __table_args__ = (
        # Emails whose Sent folder is still to be reconciled (mailbox/jobs.py looks them up).
        Index(
            "ix_emails_sent_folder",
            "sent_folder",
            sqlite_where=text("sent_folder IS NULL"),
            postgresql_where=text("sent_folder IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger, index=True)
    token: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    subject: Mapped[str] = mapped_column(Text)
    message_id: Mapped[str] = mapped_column(String(998))
    recipients: Mapped[int] = mapped_column(Integer)
    options: Mapped[Any] = mapped_column(JSON, default=dict)
    template: Mapped[bytes] = mapped_column(LargeBinary)
    # Sent folder reconciliation: None (not yet), queued, removing, removed, clean, none (the
    # account has no IMAP), failed (see mailbox/reconcile.py).
    sent_folder: Mapped[str | None] = mapped_column(String(20), nullable=True)


class LinkRow(Base):
    """An original URL of an email; click tokens name it by (delivery, number)."""

    __tablename__ = "links"

    email_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    url: Mapped[str] = mapped_column(Text)


class DeliveryRow(Base):
    """One recipient's copy of an email, and its place in the delivery queue.

    ``status``: queued, sending (claimed; ``next_attempt_at`` is then the claim's lease
    end, so a dead worker's copies fall due again by themselves), deferred, sent, failed,
    skipped (suppressed when the email was sent).
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_due", "account_id", "status", "next_attempt_at"),
        Index("ix_deliveries_account_counted", "account_id", "counted_at"),
        Index("ix_deliveries_status_created", "status", "created_at"),  # queue depth, age
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    email_id: Mapped[int] = mapped_column(BigInteger, index=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(3))
    address: Mapped[str] = mapped_column(Text, index=True)
    name: Mapped[str | None] = mapped_column(Text, nullable=True)
    user_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True, index=True)
    data: Mapped[Any] = mapped_column(JSON, nullable=True)
    message_id: Mapped[str] = mapped_column(String(998))
    session_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    reply_address: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    counted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_reply: Mapped[str | None] = mapped_column(Text, nullable=True)
    queue_id: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class JobRow(Base):
    """A unit of work on the durable queue other than a delivery (error emails, Sent folder
    reconciliation, webhooks, polling, pruning). Claimed like deliveries: ``status`` running
    with ``run_at`` as the lease end."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_due", "status", "run_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    payload: Mapped[Any] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    unique_key: Mapped[str | None] = mapped_column(String(200), nullable=True, unique=True)
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConnectionLeaseRow(Base):
    """One of an account's connection slots (``limits.connections``), leased by the worker
    holding an SMTP connection, so the limit holds across every worker on every host."""

    __tablename__ = "connection_leases"

    account_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    holder: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_until: Mapped[datetime] = mapped_column(UTCDateTime())


class MailboxClaimRow(Base):
    """A message seen in a watched IMAP mailbox, claimed by the poller that handles it.

    Unique by (account, folder, UIDVALIDITY, UID) and by (account, folder, Message-ID): two
    pollers of one mailbox, or one message delivered twice, never get processed twice.
    ``status``: processing (``claimed_at`` starts its lease), done."""

    __tablename__ = "mailbox_claims"
    __table_args__ = (
        UniqueConstraint(
            "account_id", "folder", "uidvalidity", "uid", name="uq_mailbox_claims_uid"
        ),
        UniqueConstraint("account_id", "folder", "message_id", name="uq_mailbox_claims_mid"),
        Index("ix_mailbox_claims_status", "status", "claimed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigInteger)
    folder: Mapped[str] = mapped_column(String(500))
    uidvalidity: Mapped[int] = mapped_column(BigInteger)
    uid: Mapped[int] = mapped_column(BigInteger)
    message_id: Mapped[str | None] = mapped_column(MailString(998), nullable=True)
    status: Mapped[str] = mapped_column(String(12))
    claimed_by: Mapped[str | None] = mapped_column(String(80), nullable=True)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(40), nullable=True)


# --- access: API tokens and operator users ------------------------------------------------------


class ApiTokenRow(Base):
    """A bearer token of the HTTP API (``postroom tokens create``). Only ``key_id`` (the
    public part of the token, for look-up and listing) and the SHA-256 of its random secret
    are kept: the token itself is shown once and never stored (see :mod:`postroom.access`)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(20), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    name: Mapped[str] = mapped_column(String(100), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated, RFC 6749 section 3.3
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class OperatorUserRow(Base):
    """A person who may log in to the dashboard (``postroom users add``). ``password_hash``
    is an Argon2id hash in its PHC string form (RFC 9106), never the password."""

    __tablename__ = "operator_users"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- the local mail catcher ---------------------------------------------------------------------


class CatcherMessageRow(Base):
    """A copy the local mail catcher captured, once per envelope recipient (each recipient's
    inbox), raw bytes as received. ``actions`` lists what was done as the recipient (opened,
    clicked, replied, bounced), oldest first."""

    __tablename__ = "catcher_messages"
    __table_args__ = (Index("ix_catcher_recipient", "recipient", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    mail_from: Mapped[str] = mapped_column(MailText)
    recipient: Mapped[str] = mapped_column(MailText)
    message_id: Mapped[str | None] = mapped_column(MailText, nullable=True)
    subject: Mapped[str | None] = mapped_column(MailText, nullable=True)
    from_header: Mapped[str | None] = mapped_column(MailText, nullable=True)
    size: Mapped[int] = mapped_column(Integer)
    actions: Mapped[Any] = mapped_column(MailJSON, default=list)
    raw: Mapped[bytes] = mapped_column(LargeBinary)


# --- tracking and webhooks ----------------------------------------------------------------------


class TrackingSpoolRow(Base):
    """A spooled batch of tracking hits (written while the database was down) that has been
    replayed into ``events``: inserted in the replay's own transaction, so a batch replayed
    once is never replayed again, even when the process died before removing its file."""

    __tablename__ = "tracking_spool"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)
    replayed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    events: Mapped[int] = mapped_column(Integer)


class WebhookEndpointRow(Base):
    """Where events (or, with ``handler``, one module's replies) are POSTed, signed the
    Standard Webhooks way with ``secret`` (``whsec_`` + base64 of the key)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(200))
    event_types: Mapped[Any] = mapped_column(JSON, default=list)  # empty: every type
    handler: Mapped[str | None] = mapped_column(String(100), nullable=True, unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # last event id fanned out
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class WebhookMessageRow(Base):
    """One event (or reply) for one endpoint: its ``msg_id`` is the ``webhook-id`` header,
    the idempotency key a receiver deduplicates on; retried until delivered."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        Index("ux_webhook_messages_event", "endpoint_id", "event_id", unique=True),
        Index("ix_webhook_messages_endpoint", "endpoint_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(BigInteger)
    event_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    msg_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[Any] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(10))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
