"""the HTTP API: api_tokens and operator_users; indexes for keyset pages of events (by
time, recipient, email, inbound message), inbound messages by outcome, and the queue depth
(deliveries by status)

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)

# (table, index name, columns): each serves one list or metric of the API (store/api.py,
# web/metrics.py); the trailing id makes the keyset order an index range on PostgreSQL too
# (SQLite appends the rowid to every index by itself).
INDEXES = (
    ("events", "ix_events_time", ["occurred_at", "id"]),
    ("events", "ix_events_recipient_time", ["recipient", "occurred_at", "id"]),
    ("events", "ix_events_email_time", ["email_id", "occurred_at", "id"]),
    ("inbound_messages", "ix_inbound_messages_outcome", ["outcome"]),
    ("deliveries", "ix_deliveries_status_created", ["status", "created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key_id", sa.String(length=20), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.String(length=100), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("expires_at", _TIME, nullable=True),
        sa.Column("last_used_at", _TIME, nullable=True),
        sa.Column("revoked_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "operator_users",
        sa.Column("id", _ID, nullable=False),
        sa.Column("username", sa.String(length=100), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("password_changed_at", _TIME, nullable=False),
        sa.Column("last_login_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    for table, name, columns in INDEXES:
        op.create_index(name, table, columns)
    partial = sa.text("inbound_id IS NOT NULL")  # most events belong to no inbound message
    op.create_index(
        "ix_events_inbound",
        "events",
        ["inbound_id"],
        sqlite_where=partial,
        postgresql_where=partial,
    )


def downgrade() -> None:
    op.drop_index("ix_events_inbound", table_name="events")
    for table, name, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
    op.drop_table("operator_users")
    op.drop_table("api_tokens")
