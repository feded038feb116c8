"""What duty officers do to reports: the queue, claims, moves, notes and messages (referrals:
:mod:`storage.referrals`).

Claims are one conditional UPDATE (``… WHERE status = 'new'``), atomic on SQLite (whose units of
work take the write lock at BEGIN) and PostgreSQL (row lock, re-checked condition) alike, so two
officers can never both hold a report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.lifecycle import IllegalMove, allowed_actions, move
from storage.models import (
    Agency,
    Attachment,
    AttachmentStatus,
    EventKind,
    Officer,
    Priority,
    Report,
    ReportEvent,
    ReportStatus,
    Role,
    UTCDateTime,
)

PRIORITY_RANK = {Priority.critical: 0, Priority.high: 1, Priority.normal: 2}
STATS_DIMENSIONS = ("category", "province", "month", "priority", "reporter", "victim_age")


class NotYours(Exception):
    """Someone else holds the report."""

    def __init__(self, holder: str | None) -> None:
        super().__init__("another officer holds this report")
        self.holder = holder


@dataclass(frozen=True)
class Scope:
    """What an officer may see: one agency's reports, or (admins) all."""

    officer_id: int
    agency_id: int
    role: Role
    national: bool = False
    username: str = ""

    @property
    def everything(self) -> bool:
        return self.role is Role.admin

    def visible(self, report: Report) -> bool:
        if self.everything or report.agency_id == self.agency_id:
            return True
        # Reports no agency covers wait in the national agency's queue.
        return self.national and report.agency_id is None

    def where(self) -> sa.ColumnElement[bool]:
        """The SQL condition for the reports this officer may see."""
        if self.everything:
            return sa.true()
        own = col(Report.agency_id) == self.agency_id
        return sa.or_(own, col(Report.agency_id).is_(None)) if self.national else own


# The queue's order is by priority rank, and the priorities' names sort in the same order
# ("critical" < "high" < "normal"), so ordering by the column itself gives the rank's order and
# lets an index on (agency, priority, submission time, id) serve it without sorting (the queue
# tests check the order).
# A cursor's rank as the priority it stands for; a rank past the last one sorts after them all.
_PRIORITY_OF_RANK = {rank: priority.value for priority, rank in PRIORITY_RANK.items()}
_AFTER_EVERY_PRIORITY = "~"


class QueueItem(NamedTuple):
    """A row of the queue: what ``ReportSummary`` shows and its cursor need, as plain values. A
    hundred full reports (answers, needs, ciphertexts), or even a hundred ORM objects of these
    columns, cost more to build than to find."""

    id: str
    reference: str
    status: ReportStatus
    priority: Priority
    agency_id: int | None
    danger: bool
    category: str | None
    victim_age: str | None
    province: str | None
    regency: str | None
    created_at: datetime
    claimed_by: int | None
    sla_due_at: datetime | None


def queue_statement(
    scope: Scope,
    *,
    status: ReportStatus | None,
    priority: Priority | None,
    mine: bool,
    after: tuple[int, datetime, str] | None,
    limit: int,
) -> sa.Select[Any]:
    """The queue's query (``bench/triage_bench.py`` shows its plan)."""
    statement = (
        sa.select(*(getattr(Report, name) for name in QueueItem._fields))
        .where(scope.where())
        .order_by(col(Report.priority), col(Report.created_at), col(Report.id))
        .limit(limit)
    )
    if status is not None:
        statement = statement.where(col(Report.status) == status)
    else:
        statement = statement.where(col(Report.status) != ReportStatus.closed)
    if priority is not None:
        statement = statement.where(col(Report.priority) == priority)
    if mine:
        statement = statement.where(col(Report.claimed_by) == scope.officer_id)
    if after is not None:
        rank_after, created_after, id_after = after
        statement = statement.where(
            sa.tuple_(col(Report.priority), col(Report.created_at), col(Report.id))
            > sa.tuple_(
                sa.literal(_PRIORITY_OF_RANK.get(rank_after, _AFTER_EVERY_PRIORITY)),
                sa.literal(created_after, UTCDateTime()),
                sa.literal(id_after),
            )
        )
    return statement


def queue(
    scope: Scope,
    *,
    status: ReportStatus | None,
    priority: Priority | None,
    mine: bool,
    after: tuple[int, datetime, str] | None,
    limit: int,
    session: Session,
) -> list[QueueItem]:
    """Reports by priority (critical first), then age (oldest first); keyset pagination."""
    statement = queue_statement(
        scope, status=status, priority=priority, mine=mine, after=after, limit=limit
    )
    return [QueueItem._make(row) for row in session.execute(statement)]


def get_visible(
    report_id: str, scope: Scope, *, session: Session, lock: bool = False
) -> Report | None:
    statement = select(Report).where(Report.id == report_id)
    if lock:
        statement = statement.with_for_update()
    report = session.exec(statement).first()
    return report if report is not None and scope.visible(report) else None


def username_of(officer_id: int | None, *, session: Session) -> str | None:
    if officer_id is None:
        return None
    officer = session.get(Officer, officer_id)
    return officer.username if officer is not None else None


def add_event(
    report: Report,
    kind: EventKind,
    now: datetime,
    *,
    officer_id: int | None,
    detail: dict[str, Any] | None = None,
    text: bytes | None = None,
    session: Session,
) -> None:
    session.add(
        ReportEvent(
            report_id=report.id,
            kind=kind,
            officer_id=officer_id,
            at=now,
            detail=detail or {},
            text=text,
        )
    )


def claim(report: Report, scope: Scope, now: datetime, *, session: Session) -> Report:
    if report.claimed_by == scope.officer_id:
        return report
    result = session.execute(
        sa.update(Report)
        .where(col(Report.id) == report.id, col(Report.status) == ReportStatus.new)
        .values(
            status=ReportStatus.claimed,
            claimed_by=scope.officer_id,
            claimed_at=now,
            updated_at=now,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(report)
        if report.claimed_by is None:
            raise IllegalMove(report.status, "claim", allowed_actions(report.status))
        raise NotYours(username_of(report.claimed_by, session=session))
    session.refresh(report)
    add_event(report, EventKind.claim, now, officer_id=scope.officer_id, session=session)
    return report


def require_holder(report: Report, scope: Scope, *, session: Session) -> None:
    """Only the holder moves a report; supervisors and admins may act for their team."""
    if report.claimed_by not in (None, scope.officer_id) and scope.role is Role.officer:
        raise NotYours(username_of(report.claimed_by, session=session))


def release(report: Report, scope: Scope, now: datetime, *, session: Session) -> Report:
    require_holder(report, scope, session=session)
    report.status = move(report.status, "release")
    report.claimed_by = None
    report.claimed_at = None
    report.updated_at = now
    session.add(report)
    add_event(report, EventKind.release, now, officer_id=scope.officer_id, session=session)
    return report


def reassign(
    report: Report, officer: Officer, scope: Scope, now: datetime, *, session: Session
) -> Report:
    """A supervisor hands the report to an officer of the report's agency."""
    if report.status == ReportStatus.new:
        report.status = move(report.status, "claim")
    report.claimed_by = officer.id
    report.claimed_at = now
    report.updated_at = now
    session.add(report)
    add_event(
        report,
        EventKind.reassign,
        now,
        officer_id=scope.officer_id,
        detail={"to": officer.username},
        session=session,
    )
    return report


def transition(
    report: Report,
    action: str,
    scope: Scope,
    now: datetime,
    reason: bytes | None,
    *,
    session: Session,
) -> Report:
    """``reason`` is encrypted, like a note: it may say anything about the case, so it goes with
    the story at retention."""
    require_holder(report, scope, session=session)
    before = report.status
    report.status = move(report.status, action)
    report.updated_at = now
    if report.status == ReportStatus.closed:
        report.closed_at = now
        # The case is over: the way to reach the reporter is not kept a moment longer.
        report.reply_address = None
        report.reply_channel = None
        report.reply_expires_at = None
    session.add(report)
    add_event(
        report,
        EventKind.transition,
        now,
        officer_id=scope.officer_id,
        detail={"action": action, "from": str(before), "to": str(report.status)},
        text=reason,
        session=session,
    )
    return report


def add_note(report: Report, text: bytes, scope: Scope, now: datetime, *, session: Session) -> None:
    add_event(report, EventKind.note, now, officer_id=scope.officer_id, text=text, session=session)


def timeline(report: Report, *, session: Session) -> list[tuple[ReportEvent, str | None]]:
    statement = (
        select(ReportEvent, Officer.username)
        .join(Officer, col(Officer.id) == col(ReportEvent.officer_id), isouter=True)
        .where(ReportEvent.report_id == report.id)
        .order_by(col(ReportEvent.at), col(ReportEvent.id))
    )
    return [(event, username) for event, username in session.exec(statement).all()]


def attachments_of(report: Report, *, session: Session) -> list[Attachment]:
    statement = select(Attachment).where(
        Attachment.report_id == report.id, Attachment.status == AttachmentStatus.stored
    )
    return list(session.exec(statement.order_by(col(Attachment.created_at))).all())


def counts(
    scope: Scope, rows: str, cols: str | None, *, session: Session
) -> dict[tuple[str, str], int]:
    """Report counts by one or two dimensions (``month`` is the month of submission)."""

    def dimension(name: str) -> sa.ColumnElement[Any]:
        if name == "month":
            if session.get_bind().dialect.name == "sqlite":
                return func.strftime("%Y-%m", col(Report.created_at))
            return func.to_char(col(Report.created_at), "YYYY-MM")
        return sa.func.coalesce(getattr(Report, name), "unknown")

    row_expr = dimension(rows)
    col_expr = dimension(cols) if cols else sa.literal("total")
    statement = (
        select(row_expr, col_expr, func.count()).where(scope.where()).group_by(row_expr, col_expr)
    )
    return {(str(r), str(c)): int(n) for r, c, n in session.execute(statement).all()}


def overdue(report: Report | QueueItem, now: datetime) -> bool:
    """Nobody has started on it and its SLA has passed."""
    waiting = report.status in (ReportStatus.new, ReportStatus.claimed)
    return waiting and report.sla_due_at is not None and report.sla_due_at < now


def escalate_overdue(now: datetime, *, limit: int = 100, session: Session) -> list[Report]:
    """Unclaimed critical reports past their SLA, each marked escalated once."""
    statement = (
        select(Report)
        .where(
            Report.status == ReportStatus.new,
            Report.priority == Priority.critical,
            col(Report.sla_due_at) < now,
            col(Report.escalated_at).is_(None),
        )
        .order_by(col(Report.sla_due_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    reports = list(session.exec(statement).all())
    for report in reports:
        report.escalated_at = now
        session.add(report)
    return reports


def unrouted(*, session: Session) -> tuple[int, bool]:
    """How many reports have no agency, and whether a national agency exists to see them."""
    waiting = session.exec(select(func.count()).where(col(Report.agency_id).is_(None))).one()
    national = session.exec(select(func.count()).where(col(Agency.national).is_(True))).one()
    return int(waiting), int(national) > 0
