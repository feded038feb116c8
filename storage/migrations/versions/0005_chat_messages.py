"""chat messages a quick exit deletes

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 04:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "chat_message",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reporter_key", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_chat_message_reporter_key"), "chat_message", ["reporter_key"])
    op.create_index(op.f("ix_chat_message_at"), "chat_message", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_chat_message_at"), table_name="chat_message")
    op.drop_index(op.f("ix_chat_message_reporter_key"), table_name="chat_message")
    op.drop_table("chat_message")
