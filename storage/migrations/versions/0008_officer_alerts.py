"""officer alerts: contact data, Telegram link codes, the alert queue

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "officer_contact",
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        sa.Column("email", sa.LargeBinary(), nullable=True),
        sa.Column("telegram_chat", sa.LargeBinary(), nullable=True),
        sa.Column("telegram_key", sa.String(length=64), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("officer_id"),
        sa.UniqueConstraint("telegram_key"),
    )
    op.create_table(
        "officer_link_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index(op.f("ix_officer_link_code_officer_id"), "officer_link_code", ["officer_id"])
    op.create_table(
        "alert",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("officer_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["report.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["officer_id"], ["officer.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("report_id", "officer_id", "channel", "kind", name="uq_alert_once"),
    )
    op.create_index("ix_alert_due", "alert", ["status", "next_attempt_at"])
    op.create_index(op.f("ix_alert_report_id"), "alert", ["report_id"])
    op.create_index(op.f("ix_alert_officer_id"), "alert", ["officer_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alert_officer_id"), table_name="alert")
    op.drop_index(op.f("ix_alert_report_id"), table_name="alert")
    op.drop_index("ix_alert_due", table_name="alert")
    op.drop_table("alert")
    op.drop_index(op.f("ix_officer_link_code_officer_id"), table_name="officer_link_code")
    op.drop_table("officer_link_code")
    op.drop_table("officer_contact")
