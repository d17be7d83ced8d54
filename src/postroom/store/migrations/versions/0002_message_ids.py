"""message_ids: the Message-IDs of sent copies, so bounces that quote one find their user

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 01:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_ids",
        sa.Column("message_id", sa.String(length=998), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=True),
        sa.Column("module", sa.Integer(), nullable=True),
        sa.Column("recipient", sa.Text(), nullable=True),
        sa.Column("email_id", sa.BigInteger(), nullable=True),
        sa.Column("delivery_id", sa.BigInteger(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("message_id"),
    )
    with op.batch_alter_table("message_ids", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_message_ids_delivery_id"), ["delivery_id"])
        batch_op.create_index(batch_op.f("ix_message_ids_created_at"), ["created_at"])


def downgrade() -> None:
    with op.batch_alter_table("message_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_message_ids_created_at"))
        batch_op.drop_index(batch_op.f("ix_message_ids_delivery_id"))
    op.drop_table("message_ids")
