"""Audit events: who did what to which report, when. Details hold ids and codes, never text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import AuditEvent, Officer, Report


def record(
    action: str,
    now: datetime,
    *,
    officer_id: int | None = None,
    report_id: str | None = None,
    detail: dict[str, Any] | None = None,
    session: Session,
) -> None:
    session.add(
        AuditEvent(
            at=now, action=action, officer_id=officer_id, report_id=report_id, detail=detail or {}
        )
    )


def list_events(
    *,
    agency_id: int | None,
    report_id: str | None,
    before_id: int | None,
    limit: int,
    session: Session,
) -> list[tuple[AuditEvent, str | None]]:
    """Newest first, with the officer's username; ``agency_id`` limits to that agency."""
    statement = (
        select(AuditEvent, Officer.username)
        .join(Officer, col(Officer.id) == col(AuditEvent.officer_id), isouter=True)
        .order_by(col(AuditEvent.id).desc())
        .limit(limit)
    )
    if agency_id is not None:
        # The agency's officers' actions, and whatever happened to the agency's reports.
        own_reports = select(Report.id).where(Report.agency_id == agency_id)
        statement = statement.where(
            sa.or_(
                col(Officer.agency_id) == agency_id,
                col(AuditEvent.report_id).in_(own_reports),
            )
        )
    if report_id is not None:
        statement = statement.where(AuditEvent.report_id == report_id)
    if before_id is not None:
        statement = statement.where(col(AuditEvent.id) < before_id)
    return [(event, username) for event, username in session.exec(statement).all()]
