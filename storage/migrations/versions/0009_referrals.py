"""referrals between agencies, and the services agencies offer

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "agency_service",
        sa.Column("agency_id", sa.Integer(), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["agency_id"], ["agency.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("agency_id", "service"),
    )
    op.create_index(op.f("ix_agency_service_service"), "agency_service", ["service"])
    op.create_table(
        "referral",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("service", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("from_agency_id", sa.Integer(), nullable=False),
        sa.Column("to_agency_id", sa.Integer(), nullable=True),
        sa.Column("organisation", sa.String(length=200), nullable=True),
        sa.Column("note", sa.LargeBinary(), nullable=True),
        sa.Column("reason", sa.LargeBinary(), nullable=True),
        sa.Column("outcome", sa.LargeBinary(), nullable=True),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("answered_by", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["from_agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["to_agency_id"], ["agency.id"]),
        sa.ForeignKeyConstraint(["created_by"], ["officer.id"]),
        sa.ForeignKeyConstraint(["answered_by"], ["officer.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_referral_report_id"), "referral", ["report_id"])
    op.create_index(op.f("ix_referral_from_agency_id"), "referral", ["from_agency_id"])
    op.create_index("ix_referral_incoming", "referral", ["to_agency_id", "status", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_referral_incoming", table_name="referral")
    op.drop_index(op.f("ix_referral_from_agency_id"), table_name="referral")
    op.drop_index(op.f("ix_referral_report_id"), table_name="referral")
    op.drop_table("referral")
    op.drop_index(op.f("ix_agency_service_service"), table_name="agency_service")
    op.drop_table("agency_service")
