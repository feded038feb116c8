"""the SIMFONI case record

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "case_record",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("victim_age_band", sa.String(length=8), nullable=True),
        sa.Column("victim_sex", sa.String(length=1), nullable=True),
        sa.Column("violence_forms", sa.JSON(), nullable=False),
        sa.Column("place", sa.String(length=32), nullable=True),
        sa.Column("perpetrator_relation", sa.String(length=32), nullable=True),
        sa.Column("perpetrator_sex", sa.String(length=1), nullable=True),
        sa.Column("services_given", sa.JSON(), nullable=False),
        sa.Column("from_reporter", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["updated_by"], ["officer.id"]),
        sa.PrimaryKeyConstraint("report_id"),
    )


def downgrade() -> None:
    op.drop_table("case_record")
