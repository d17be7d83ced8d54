"""the local mail catcher: catcher_messages (one row per captured copy and envelope recipient,
raw bytes kept, and what was done as that recipient)

Revision ID: 0010
Revises: 0007
Create Date: 2026-12-04 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0007"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "catcher_messages",
        sa.Column("id", _ID, nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("mail_from", sa.Text(), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.Column("subject", sa.Text(), nullable=True),
        sa.Column("from_header", sa.Text(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    # Each recipient's inbox, newest first (and the list of recipients).
    op.create_index("ix_catcher_recipient", "catcher_messages", ["recipient", "id"])


def downgrade() -> None:
    op.drop_index("ix_catcher_recipient", table_name="catcher_messages")
    op.drop_table("catcher_messages")
