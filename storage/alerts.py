"""Officer alerts: who is told about which report, on which channel, once.

An alert row is written in the transaction that found the need (the report's submission, the
sweep that found a critical report half-way through its SLA, a referral left pending) and is
unique on (report, officer, channel, kind), so a second attempt to queue it changes nothing. The
alert sender leases due rows like the outbox does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from storage.db import Unit, conflict_insert
from storage.leases import lease_due
from storage.models import (
    Alert,
    AlertChannel,
    AlertKind,
    AlertStatus,
    Officer,
    OfficerContact,
    Priority,
    Report,
    ReportStatus,
    Role,
)
from storage.reports import Submitted

ALERTED_PRIORITIES = frozenset({Priority.critical, Priority.high})


def recipients(
    agency_id: int,
    *,
    supervisors_only: bool = False,
    with_supervisors: bool = False,
    session: Session,
) -> list[tuple[int, AlertChannel]]:
    """(officer id, channel) pairs to alert for one of the agency's reports.

    The on-duty officers that can be reached on some channel; if there are none (or
    ``with_supervisors``), the agency's supervisors too, on duty or not; only those with
    ``supervisors_only``. Off-duty officers are never alerted.
    """
    rows = session.exec(
        select(Officer, OfficerContact)
        .join(OfficerContact, col(OfficerContact.officer_id) == col(Officer.id))
        .where(Officer.agency_id == agency_id, col(Officer.active).is_(True))
        .order_by(col(Officer.id))
    ).all()
    reachable = {
        officer.id: (officer, contact)
        for officer, contact in rows
        if officer.id is not None and _channels(contact)
    }
    on_duty = [] if supervisors_only else [i for i, (_, c) in reachable.items() if c.on_duty]
    chosen = list(on_duty)
    if supervisors_only or with_supervisors or not on_duty:
        chosen += [
            i for i, (o, _) in reachable.items() if o.role == Role.supervisor and i not in chosen
        ]
    return [(i, channel) for i in chosen for channel in _channels(reachable[i][1])]


def _channels(contact: OfficerContact) -> list[AlertChannel]:
    channels = []
    if contact.email is not None:
        channels.append(AlertChannel.email)
    if contact.telegram_chat is not None:
        channels.append(AlertChannel.telegram)
    return channels


def queue_agency_alerts(
    agency_id: int,
    report_id: str,
    kind: AlertKind,
    now: datetime,
    *,
    supervisors_only: bool = False,
    with_supervisors: bool = False,
    session: Session,
) -> int:
    """Queue ``kind`` alerts about the report for the agency's people (see :func:`recipients`),
    in the caller's transaction; how many new alerts. Queuing the same again adds nothing."""
    wanted = recipients(
        agency_id,
        supervisors_only=supervisors_only,
        with_supervisors=with_supervisors,
        session=session,
    )
    if not wanted:
        return 0
    rows = [
        {
            "report_id": report_id,
            "officer_id": officer_id,
            "channel": channel.value,
            "kind": kind.value,
            "status": AlertStatus.pending.value,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for officer_id, channel in wanted
    ]
    # RETURNING gives back only the rows inserted (a driver's rowcount for a multi-row insert
    # is not to be trusted), on both backends.
    inserted = session.execute(
        conflict_insert(Alert, session.get_bind().dialect.name)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["report_id", "officer_id", "channel", "kind"])
        .returning(col(Alert.id))
    ).all()
    return len(inserted)


def queue_new_report_alerts(report: Submitted, now: datetime, *, unit: Unit) -> int:
    """A report just submitted: critical and high ones alert the routed agency (nothing else is
    done for a normal one, so the common turn pays one comparison)."""
    if report.priority not in ALERTED_PRIORITIES or report.agency_id is None:
        return 0
    return queue_agency_alerts(
        report.agency_id, report.id, AlertKind.new_report, now, session=unit.session
    )


def queue_half_sla_alerts(
    now: datetime, half_sla: timedelta, *, limit: int = 100, session: Session
) -> int:
    """Critical reports still unclaimed half-way through their SLA: the on-duty officers again,
    and the supervisors. A report is taken once (a half-SLA alert row marks it)."""
    reminded = (
        select(Alert.id)
        .where(col(Alert.report_id) == col(Report.id), Alert.kind == AlertKind.half_sla)
        .exists()
    )
    due = session.exec(
        select(Report)
        .where(
            Report.status == ReportStatus.new,
            Report.priority == Priority.critical,
            col(Report.agency_id).is_not(None),
            col(Report.created_at) <= now - half_sla,
            ~reminded,
        )
        .order_by(col(Report.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    queued = 0
    for report in due:
        assert report.agency_id is not None
        queued += queue_agency_alerts(
            report.agency_id,
            report.id,
            AlertKind.half_sla,
            now,
            with_supervisors=True,
            session=session,
        )
    return queued


@dataclass(frozen=True)
class AlertWork:
    """What the sender needs for one alert: where to (ciphertext) and the few facts it may say."""

    alert_id: int
    channel: AlertChannel
    kind: AlertKind
    address: bytes | None
    report_id: str
    reference: str
    priority: Priority
    province: str | None
    regency: str | None
    received_at: datetime


def claim_due(
    channels: list[AlertChannel], now: datetime, lease: timedelta, *, limit: int, session: Session
) -> list[AlertWork]:
    """Due alerts on these channels, leased to this sender (``storage.leases``)."""
    statement = (
        select(Alert)
        .where(
            Alert.status == AlertStatus.pending,
            col(Alert.channel).in_([channel.value for channel in channels]),
            col(Alert.next_attempt_at) <= now,
        )
        .order_by(col(Alert.id))
        .limit(limit)
    )
    work = []
    for alert in lease_due(statement, now, lease, session=session):
        report = session.get(Report, alert.report_id)
        contact = session.get(OfficerContact, alert.officer_id)
        assert report is not None
        assert alert.id is not None
        address = None
        if contact is not None:
            address = (
                contact.email if alert.channel == AlertChannel.email else contact.telegram_chat
            )
        work.append(
            AlertWork(
                alert_id=alert.id,
                channel=AlertChannel(alert.channel),
                kind=AlertKind(alert.kind),
                address=address,
                report_id=report.id,
                reference=report.reference,
                priority=Priority(report.priority),
                province=report.province,
                regency=report.regency,
                received_at=report.created_at,
            )
        )
    return work


def lock_pending(alert_id: int, *, session: Session) -> Alert | None:
    """The alert, locked, if it still waits to be sent (another sender may have finished it)."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    return alert if alert is not None and alert.status == AlertStatus.pending else None


def mark_sent(alert: Alert, now: datetime, *, session: Session) -> None:
    alert.status = AlertStatus.sent
    alert.sent_at = now
    alert.attempts += 1
    session.add(alert)


def retry_later(alert: Alert, when: datetime, error: str, *, session: Session) -> None:
    alert.attempts += 1
    alert.next_attempt_at = when
    alert.last_error = error[:64]
    session.add(alert)


def give_up(alert: Alert, error: str, *, session: Session) -> None:
    alert.attempts += 1
    alert.status = AlertStatus.failed
    alert.last_error = error[:64]
    session.add(alert)


def alerts_for_report(report_id: str, *, session: Session) -> list[Alert]:
    return list(
        session.exec(select(Alert).where(Alert.report_id == report_id).order_by(col(Alert.id)))
    )
