"""shared send budgets, and indexes for the triage queue (issue 13: sender and scale-out)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:20:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "send_budget",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("next_slot", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index(
        "ix_report_agency_order", "report", ["agency_id", "priority", "created_at", "id"]
    )
    op.create_index("ix_report_order", "report", ["priority", "created_at", "id"])
    op.create_index(
        "ix_report_claimed_order", "report", ["claimed_by", "priority", "created_at", "id"]
    )


def downgrade() -> None:
    op.drop_index("ix_report_claimed_order", table_name="report")
    op.drop_index("ix_report_order", table_name="report")
    op.drop_index("ix_report_agency_order", table_name="report")
    op.drop_table("send_budget")
