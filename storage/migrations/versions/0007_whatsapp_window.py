"""whatsapp window: when each reporter last wrote, what waits for them, the template's state

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "whatsapp_window",
        sa.Column("reporter_key", sa.String(length=64), nullable=False),
        sa.Column("last_inbound_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notice", sa.String(length=16), nullable=True),
        sa.Column("notice_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("reporter_key"),
    )


def downgrade() -> None:
    op.drop_table("whatsapp_window")
