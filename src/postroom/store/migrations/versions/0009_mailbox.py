"""the Mailbox part: claims of messages seen in watched IMAP mailboxes (one row per message,
unique by account, folder, UIDVALIDITY and UID, and by Message-ID, so several pollers never
process one message twice); Sent reconciliation's progress stays in emails.sent_folder

Revision ID: 0009
Revises: 0010
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "mailbox_claims",
        sa.Column("id", _ID, nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("folder", sa.String(length=500), nullable=False),
        sa.Column("uidvalidity", sa.BigInteger(), nullable=False),
        sa.Column("uid", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.String(length=998), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("claimed_by", sa.String(length=80), nullable=True),
        sa.Column("claimed_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id", "folder", "uidvalidity", "uid", name="uq_mailbox_claims_uid"
        ),
        sa.UniqueConstraint("account_id", "folder", "message_id", name="uq_mailbox_claims_mid"),
    )
    op.create_index("ix_mailbox_claims_status", "mailbox_claims", ["status", "claimed_at"])
    op.create_index(
        "ix_emails_sent_folder",
        "emails",
        ["sent_folder"],
        sqlite_where=sa.text("sent_folder IS NULL"),
        postgresql_where=sa.text("sent_folder IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_emails_sent_folder", table_name="emails")
    op.drop_index("ix_mailbox_claims_status", table_name="mailbox_claims")
    op.drop_table("mailbox_claims")
