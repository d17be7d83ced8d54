"""the sending half: accounts, emails, links, deliveries (the copies' queue), jobs,
connection leases; sessions know their delivery; events indexed by email and delivery

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "accounts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("from_address", sa.Text(), nullable=False),
        sa.Column("from_name", sa.Text(), nullable=True),
        sa.Column("smtp_host", sa.Text(), nullable=False),
        sa.Column("smtp_port", sa.Integer(), nullable=False),
        sa.Column("smtp_security", sa.String(length=10), nullable=False),
        sa.Column("smtp_auth", sa.String(length=10), nullable=False),
        sa.Column("smtp_username", sa.Text(), nullable=True),
        sa.Column("imap_host", sa.Text(), nullable=True),
        sa.Column("imap_port", sa.Integer(), nullable=True),
        sa.Column("imap_security", sa.String(length=10), nullable=True),
        sa.Column("imap_username", sa.Text(), nullable=True),
        sa.Column("envelope", sa.String(length=10), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("secret", sa.LargeBinary(), nullable=True),
        sa.Column("paused_until", _TIME, nullable=True),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("last_test", sa.JSON(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "emails",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("token", sa.String(length=40), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("template", sa.LargeBinary(), nullable=False),
        sa.Column("sent_folder", sa.String(length=20), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_emails_account_id"), ["account_id"])
        batch_op.create_index(batch_op.f("ix_emails_created_at"), ["created_at"])
    op.create_table(
        "links",
        sa.Column("email_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("number", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("email_id", "number"),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", _ID, nullable=False),
        sa.Column("email_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=3), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=True),
        sa.Column("reply_address", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("counted_at", _TIME, nullable=True),
        sa.Column("last_code", sa.Integer(), nullable=True),
        sa.Column("last_reply", sa.Text(), nullable=True),
        sa.Column("queue_id", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deliveries_email_id"), ["email_id"])
        batch_op.create_index(batch_op.f("ix_deliveries_address"), ["address"])
        batch_op.create_index(batch_op.f("ix_deliveries_user_id"), ["user_id"])
        batch_op.create_index("ix_deliveries_due", ["account_id", "status", "next_attempt_at"])
        batch_op.create_index("ix_deliveries_account_counted", ["account_id", "counted_at"])
    op.create_table(
        "jobs",
        sa.Column("id", _ID, nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("run_at", _TIME, nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("unique_key", sa.String(length=200), nullable=True),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("unique_key"),
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index("ix_jobs_due", ["status", "run_at"])
    op.create_table(
        "connection_leases",
        sa.Column("account_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("holder", sa.String(length=80), nullable=True),
        sa.Column("lease_until", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("account_id", "slot"),
    )
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("delivery_id", sa.BigInteger(), nullable=True))
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.create_index("ix_events_email", ["email_id", "id"])
        batch_op.create_index("ix_events_delivery", ["delivery_id", "id"])


def downgrade() -> None:
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_index("ix_events_delivery")
        batch_op.drop_index("ix_events_email")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_column("delivery_id")
    op.drop_table("connection_leases")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index("ix_jobs_due")
    op.drop_table("jobs")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_account_counted")
        batch_op.drop_index("ix_deliveries_due")
        batch_op.drop_index(batch_op.f("ix_deliveries_user_id"))
        batch_op.drop_index(batch_op.f("ix_deliveries_address"))
        batch_op.drop_index(batch_op.f("ix_deliveries_email_id"))
    op.drop_table("deliveries")
    op.drop_table("links")
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_emails_created_at"))
        batch_op.drop_index(batch_op.f("ix_emails_account_id"))
    op.drop_table("emails")
    op.drop_table("accounts")
