"""Reports: creation with routing and SLA, lookup by receipt, and the messages on a report."""

from __future__ import annotations

import functools
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from sqlmodel import Session, col, select

from storage.crypto import Hasher
from storage.db import Statement, Unit
from storage.models import (
    Channel,
    MessageDirection,
    Priority,
    Report,
    ReportMessage,
    ReportStatus,
    new_uuid,
)
from storage.receipts import ALPHABET, parse_receipt

DEFAULT_SLA = {
    Priority.critical: timedelta(minutes=15),
    Priority.high: timedelta(hours=2),
    Priority.normal: timedelta(hours=24),
}
COARSE_STATUS = {
    ReportStatus.new: "received",
    ReportStatus.claimed: "in_progress",
    ReportStatus.in_progress: "in_progress",
    ReportStatus.referred: "referred",
    ReportStatus.resolved: "closed",
    ReportStatus.closed: "closed",
}


@dataclass(frozen=True)
class NewReport:
    """What a finished conversation hands over; text fields are already encrypted."""

    fields: dict[str, Any]
    priority: Priority
    danger: bool
    locale: str
    receipt_hash: str
    story: bytes | None
    story_masked: bytes | None
    callback_phone: bytes | None
    reply_channel: Channel | None
    reply_address: bytes | None
    # How long an officer may write back through the reporter's chat (``None``: not at all).
    reply_expires_at: datetime | None = None


_ROUTE = Statement.of(
    "SELECT agency_id FROM agency_region WHERE region_code = ? ORDER BY agency_id LIMIT 1"
)
_NATIONAL = Statement.of("SELECT id FROM agency WHERE national = ? ORDER BY id LIMIT 1")
_REFERENCE_TAKEN = Statement.of("SELECT 1 FROM report WHERE reference = ?")
_ADOPT_DRAFTED = Statement.of(
    "UPDATE attachment SET report_id = ?, conversation_id = NULL WHERE conversation_id = ?"
)


def route_agency(province: str | None, regency: str | None, *, unit: Unit) -> int | None:
    """The agency covering the most specific region (regency, then province), else a national
    one; ``None`` when there is none at all."""
    for code in (regency, province):
        if code:
            found = unit.first(_ROUTE, (code,))
            if found is not None:
                return int(found[0])
    national = unit.first(_NATIONAL, (True,))
    return None if national is None else int(national[0])


def _new_reference(*, unit: Unit) -> str:
    while True:
        reference = "LA-" + "".join(secrets.choice(ALPHABET) for _ in range(6))
        if unit.first(_REFERENCE_TAKEN, (reference,)) is None:
            return reference


class Submitted(NamedTuple):
    """A report just written: what its callers go on with (its alerts, a test's look-up)."""

    id: str
    priority: Priority
    agency_id: int | None


_REPORT = Report.__table__  # type: ignore[attr-defined]
# What ``create_report`` writes itself; the rest of the row is the conversation's answers.
_GIVEN = (
    "id",
    "reference",
    "receipt_hash",
    "status",
    "priority",
    "agency_id",
    "locale",
    "danger",
    "needs",
    "story",
    "story_masked",
    "callback_phone",
    "reply_channel",
    "reply_address",
    "reply_expires_at",
    "created_at",
    "updated_at",
    "sla_due_at",
)
# Columns an officer's work fills later, never the reporter's.
_LATER = ("claimed_by", "claimed_at", "closed_at", "escalated_at")
_ANSWERS = frozenset(_REPORT.columns.keys()) - {*_GIVEN, *_LATER}


@functools.cache
def _insert_report(answers: tuple[str, ...]) -> tuple[Statement, tuple[str, ...]]:
    """The INSERT of a report with these answers (a conversation always hands over the same
    ones: made once), as SQLAlchemy writes it (``when`` quoted), for the driver; and the order
    of its values."""
    compiled = sa.insert(_REPORT).compile(dialect=sqlite.dialect(), column_keys=[*_GIVEN, *answers])
    assert compiled.positiontup is not None
    return Statement.of(str(compiled)), tuple(compiled.positiontup)


def create_report(
    new: NewReport,
    now: datetime,
    *,
    conversation_id: int | None,
    sla: dict[Priority, timedelta] | None = None,
    unit: Unit,
) -> Submitted:
    """The report, written as one row by the driver (through SQLAlchemy's Core its thirty-odd
    values cost more than the rest of a submitting turn), its routing and reference likewise,
    and the evidence drafted in the conversation moved over in one statement. The columns a
    model default would fill are given here (status, times); ``needs`` is the JSON text the
    model's JSON column reads. An answer the table has no column for is refused."""
    answers = {name: value for name, value in new.fields.items() if name != "needs"}
    unexpected = answers.keys() - _ANSWERS
    if unexpected:
        raise ValueError(f"not a report field: {sorted(unexpected)}")
    submitted = Submitted(
        id=new_uuid(),
        priority=new.priority,
        agency_id=route_agency(answers.get("province"), answers.get("regency"), unit=unit),
    )
    values = {
        **answers,
        "id": submitted.id,
        "reference": _new_reference(unit=unit),
        "receipt_hash": new.receipt_hash,
        "status": ReportStatus.new.value,
        "priority": new.priority.value,
        "agency_id": submitted.agency_id,
        "locale": new.locale,
        "danger": new.danger,
        "needs": json.dumps(list(new.fields.get("needs") or [])),
        "story": new.story,
        "story_masked": new.story_masked,
        "callback_phone": new.callback_phone,
        "reply_channel": None if new.reply_channel is None else new.reply_channel.value,
        "reply_address": new.reply_address,
        "reply_expires_at": unit.time(new.reply_expires_at),
        "created_at": unit.time(now),
        "updated_at": unit.time(now),
        "sla_due_at": unit.time(now + (sla or DEFAULT_SLA)[new.priority]),
    }
    statement, order = _insert_report(tuple(answers))
    unit.run(statement, [values[name] for name in order])
    if conversation_id is not None:
        unit.run(_ADOPT_DRAFTED, (submitted.id, conversation_id))
    return submitted


def find_report_by_receipt(text: str, *, hasher: Hasher, session: Session) -> Report | None:
    """The report whose receipt the person meant by ``text``; None for anything else."""
    canonical = parse_receipt(text)
    if canonical is None:
        return None
    digest = hasher.receipt_hash(canonical)
    return session.exec(select(Report).where(Report.receipt_hash == digest)).first()


def add_message(
    report_id: str,
    direction: MessageDirection,
    text: bytes,
    now: datetime,
    *,
    officer_id: int | None = None,
    session: Session,
) -> ReportMessage:
    message = ReportMessage(
        report_id=report_id, direction=direction, text=text, officer_id=officer_id, created_at=now
    )
    session.add(message)
    session.flush()
    return message


def messages_of(report_id: str, *, session: Session) -> list[ReportMessage]:
    statement = (
        select(ReportMessage)
        .where(ReportMessage.report_id == report_id)
        .order_by(col(ReportMessage.created_at), col(ReportMessage.id))
    )
    return list(session.exec(statement).all())
