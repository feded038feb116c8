"""The case record: a report in SIMFONI PPA's categories, as officers complete it.

Until an officer first saves it, a report's case is the one its reporter's answers start
(:func:`storage.simfoni.prefill`), computed rather than stored, so every report has a case and
reports filed before this module existed need no back-filling. Once saved, the stored record is
the case, and a field an officer emptied stays empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import load_only
from sqlmodel import Session, col, select

from storage import simfoni
from storage.models import CaseRecord, EventKind, Report, ReportEvent
from storage.triage import STATS_DIMENSIONS, Scope

CASE_FIELDS = (
    "victim_age_band",
    "victim_sex",
    "violence_forms",
    "place",
    "perpetrator_relation",
    "perpetrator_sex",
    "services_given",
)
LIST_FIELDS = frozenset({"violence_forms", "services_given"})
# Statistics can be grouped by the case's categories (all but the services given): ``case.<field>``.
# A report counts once under each of its forms of violence (as SIMFONI counts them); the other
# fields hold one value.
STATS_FIELDS = tuple(field for field in CASE_FIELDS if field != "services_given")
STATS_PREFIX = "case."
UNKNOWN = "unknown"


def started_case(report: Report) -> CaseRecord:
    """The case as the reporter's answers start it (not stored)."""
    answers = {step: getattr(report, step) for step in simfoni.FROM_REPORTER}
    filled = simfoni.prefill(answers)
    return CaseRecord(
        report_id=report.id,
        **filled,
        from_reporter=[field for field in CASE_FIELDS if field in filled],
        updated_at=report.created_at,
    )


def find_case(report_id: str, *, session: Session, lock: bool = False) -> CaseRecord | None:
    """The stored case, if an officer has saved one."""
    statement = select(CaseRecord).where(CaseRecord.report_id == report_id)
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def case_of(report: Report, *, session: Session) -> CaseRecord:
    return find_case(report.id, session=session) or started_case(report)


def update_case(
    report: Report,
    changes: dict[str, Any],
    *,
    officer_id: int,
    now: datetime,
    session: Session,
) -> tuple[CaseRecord, list[str]]:
    """Set the given fields (``None`` empties one); the fields that changed, which also go on
    the report's timeline. A changed field no longer counts as the reporter's."""
    record = find_case(report.id, session=session, lock=True) or started_case(report)
    changed = []
    for field in CASE_FIELDS:
        if field not in changes:
            continue
        value = _normalised(field, changes[field])
        if getattr(record, field) != value:
            # A new value, never the old list mutated: the JSON column notices assignments only.
            setattr(record, field, value)
            changed.append(field)
    record.from_reporter = [field for field in record.from_reporter if field not in changed]
    record.updated_at = now
    record.updated_by = officer_id
    session.add(record)
    if changed:
        session.add(
            ReportEvent(
                report_id=report.id,
                kind=EventKind.case,
                officer_id=officer_id,
                at=now,
                detail={"fields": ", ".join(changed)},
            )
        )
    session.flush()
    return record, changed


def _normalised(field: str, value: Any) -> Any:
    """Lists in a stable order without repeats, so that saving the same choices changes nothing."""
    if field == "violence_forms":
        chosen = set(value or [])
        return [form for form in simfoni.VIOLENCE_FORMS if form in chosen]
    if field == "services_given":
        given = {(str(item["date"]), str(item["service"])) for item in value or []}
        return [{"service": service, "date": day} for day, service in sorted(given)]
    return value


# What a case needs of its report (the answers it starts from), and what the export and the
# statistics show: never the encrypted story or reply address, which are not even loaded.
CASE_COLUMNS = ("id", "created_at", "agency_id", *simfoni.FROM_REPORTER)
EXPORT_COLUMNS = (*CASE_COLUMNS, "reference", "province", "regency", "status")
STATS_COLUMNS = (*CASE_COLUMNS, *(name for name in STATS_DIMENSIONS if name != "month"))


def _with_cases(columns: tuple[str, ...]) -> Any:
    """Reports (those ``columns`` of them) each with its stored case, or ``None``."""
    return (
        select(Report, CaseRecord)
        .options(load_only(*(getattr(Report, name) for name in dict.fromkeys(columns))))
        .join(CaseRecord, col(CaseRecord.report_id) == col(Report.id), isouter=True)
    )


def cases_received(
    agency_id: int, start: datetime, end: datetime, *, session: Session
) -> list[tuple[Report, CaseRecord]]:
    """The agency's reports received in ``[start, end)``, oldest first, each with its case."""
    statement = (
        _with_cases(EXPORT_COLUMNS)
        .where(
            Report.agency_id == agency_id,
            col(Report.created_at) >= start,
            col(Report.created_at) < end,
        )
        .order_by(col(Report.created_at), col(Report.id))
    )
    return [
        (report, record if record is not None else started_case(report))
        for report, record in session.exec(statement).all()
    ]


def is_case_dimension(name: str | None) -> bool:
    return name is not None and name.startswith(STATS_PREFIX)


def counts(
    scope: Scope, rows: str, cols: str | None, *, session: Session
) -> dict[tuple[str, str], int]:
    """Report counts by one or two dimensions, at least one a case field (``case.place``); the
    report's own dimensions as :func:`storage.triage.counts` counts them."""
    statement = _with_cases(STATS_COLUMNS).where(scope.where())
    found: dict[tuple[str, str], int] = {}
    for report, record in session.exec(statement).all():
        case = record if record is not None else started_case(report)
        columns = _values(cols, report, case) if cols else ["total"]
        for row in _values(rows, report, case):
            for column in columns:
                found[(row, column)] = found.get((row, column), 0) + 1
    return found


def _values(dimension: str, report: Report, case: CaseRecord) -> Iterable[str]:
    if is_case_dimension(dimension):
        value = getattr(case, dimension.removeprefix(STATS_PREFIX))
    elif dimension == "month":
        value = report.created_at.strftime("%Y-%m")
    else:
        value = getattr(report, dimension)
    if isinstance(value, list):
        return [str(item) for item in value] or [UNKNOWN]
    return [UNKNOWN if value is None else str(value)]
