"""Retention on a real database (SQLite and PostgreSQL): what is due goes, the rest stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlmodel import col, func, select

from api.runtime import apply_retention
from bot.inbox import Inbox
from flows.machine import Flows
from storage import audit, outbox, ratelimit, reports, windows
from storage.crypto import Crypto
from storage.db import Database, Unit, sqlite_path
from storage.models import (
    Agency,
    Attachment,
    AttachmentContent,
    AuditEvent,
    Channel,
    Conversation,
    EventKind,
    Inbound,
    MessageDirection,
    OutboxMessage,
    OutboxStatus,
    RateEvent,
    Referral,
    ReferralStatus,
    Report,
    ReportEvent,
    ReportMessage,
    ReportStatus,
    Service,
    WhatsAppWindow,
)
from storage.retention import RetentionPolicy
from tests.support import STORY, Phone

START = datetime(2026, 1, 5, 9, tzinfo=UTC)
NOW = START + timedelta(days=100)
LEGACY_REASON = "Reason canary: pelaku ayah tiri, alamat Jl. Melati 7"
POLICY = RetentionPolicy()
NOTHING_DUE = {
    "drafts": 0,
    "deliveries": 0,
    "outbox": 0,
    "closed_reports": 0,
    "audit_events": 0,
    "rate_events": 0,
    "whatsapp_windows": 0,
}


def count(database: Database, model: type, *where: object) -> int:
    with database.unit() as session:
        statement = select(func.count()).select_from(model).where(*where)  # type: ignore[arg-type]
        return int(session.exec(statement).one())


def close_report(database: Database, closed_at: datetime) -> str:
    """Close the newest report at ``closed_at``, with a file, a message and a note."""
    with database.unit() as session:
        report = session.exec(select(Report).order_by(col(Report.created_at).desc())).first()
        assert report is not None
        report.status = ReportStatus.closed
        report.closed_at = closed_at
        report.callback_phone = b"encrypted callback"
        session.add(report)
        attachment = Attachment(
            report_id=report.id,
            kind="photo",
            content_type="image/jpeg",
            size=4,
            sha256="0" * 64,
            created_at=closed_at,
        )
        session.add(attachment)
        session.flush()
        session.add(AttachmentContent(attachment_id=attachment.id, data=b"jpeg"))
        reports.add_message(
            report.id, MessageDirection.to_reporter, b"encrypted", closed_at, session=session
        )
        session.add(
            ReportEvent(report_id=report.id, kind=EventKind.note, at=closed_at, text=b"note")
        )
        # A reason kept in clear by an older version (now they are encrypted like notes).
        session.add(
            ReportEvent(
                report_id=report.id,
                kind=EventKind.transition,
                at=closed_at,
                detail={"action": "close", "to": "closed", "reason": LEGACY_REASON},
            )
        )
        agency = Agency(code=f"A-{report.id[:8]}", name="Dinas Sosial")
        session.add(agency)
        session.flush()
        assert agency.id is not None
        session.add(
            Referral(
                report_id=report.id,
                service=Service.psychosocial,
                status=ReferralStatus.done,
                from_agency_id=agency.id,
                organisation="Yayasan Pulih",
                note=b"encrypted note",
                outcome=b"encrypted outcome",
            )
        )
        audit.record("report.close", closed_at, report_id=report.id, session=session)
        return report.id


def test_retention_forgets_what_is_due_and_keeps_the_statistics(inbox: Inbox) -> None:
    database, clock = inbox.database, [START]
    inbox.clock = lambda: clock[0]
    old = Phone(inbox, identity="1001")
    old.report()
    old_report = close_report(database, START + timedelta(days=1))
    Phone(inbox, identity="1002").type("halo")  # a draft left at START: expired long ago
    with database.unit() as session:
        for message in session.exec(select(OutboxMessage)).all():
            outbox.mark_sent(message, START, session=session)
        for ago in (timedelta(days=2), timedelta(hours=1)):
            ratelimit.add_event("test", "key", NOW - ago, unit=Unit.of(session))
        audit.record("login.failed", START - timedelta(days=300), session=session)
        # Messages held for WhatsApp's 24-hour window: one for a reporter gone for good.
        for written in (START, NOW - timedelta(days=1)):
            held = outbox.enqueue(Channel.whatsapp, "k", b"to", b"text", written, session=session)
            outbox.give_up(held, OutboxStatus.held, "graph:131047", 0, session=session)
        # WhatsApp reporters' windows: one silent since START, one held for lately.
        windows.open_window("a" * 64, START, unit=Unit.of(session))
        windows.open_window("b" * 64, START, unit=Unit.of(session))
        windows.hold("b" * 64, NOW - timedelta(days=1), session=session)

    clock[0] = NOW - timedelta(days=5)
    Phone(inbox, identity="2001").report()
    recent_report = close_report(database, NOW - timedelta(days=3))
    clock[0] = NOW - timedelta(hours=1)
    Phone(inbox, identity="2002").type("halo")  # a draft still alive

    due = apply_retention(database, POLICY, NOW, dry_run=True)
    assert due["drafts"] == 3  # the two reporters' and the draft left at START
    delivered_long_ago = col(Inbound.processed_at) < NOW - POLICY.deliveries
    assert due["deliveries"] == count(database, Inbound, delivered_long_ago)
    assert due["deliveries"] > 20
    sent = count(database, OutboxMessage, col(OutboxMessage.sent_at).is_not(None))
    assert due["outbox"] == sent + 1  # and the message held since START
    assert due["closed_reports"] == 1
    assert due["audit_events"] == 1
    assert due["whatsapp_windows"] == 1
    # Each report is counted for the limits too (bot/limits.py; messages on their conversation).
    counted_long_ago = col(RateEvent.at) < NOW - POLICY.rate_events
    assert due["rate_events"] == count(database, RateEvent, counted_long_ago)
    assert due["rate_events"] == 3  # the test's, and the two reports' of long ago
    recent_rate_events = count(database, RateEvent) - due["rate_events"]
    assert recent_rate_events == 1  # the test's
    assert apply_retention(database, POLICY, NOW, dry_run=True) == due  # the dry run kept it all

    assert apply_retention(database, POLICY, NOW, dry_run=False) == due
    assert apply_retention(database, POLICY, NOW, dry_run=True) == NOTHING_DUE
    assert count(database, Conversation) == 1
    assert count(database, Inbound) > 0
    assert count(database, OutboxMessage) > 0
    assert count(database, OutboxMessage, OutboxMessage.status == OutboxStatus.held) == 1
    assert count(database, RateEvent) == recent_rate_events
    assert count(database, WhatsAppWindow, WhatsAppWindow.reporter_key == "b" * 64) == 1
    assert count(database, WhatsAppWindow) == 1
    assert count(database, AuditEvent) == 2  # the two closings: within a year
    with database.unit() as session:
        erased = session.get(Report, old_report)
        kept = session.get(Report, recent_report)
        assert erased is not None
        assert kept is not None
        assert (erased.story, erased.story_masked, erased.callback_phone) == (None, None, None)
        assert erased.reply_address is None
        for field in ("category", "reporter", "victim_age", "province", "regency", "priority"):
            assert getattr(erased, field) == getattr(kept, field) is not None, field
        assert erased.needs == kept.needs == ["legal"]
        assert (erased.status, erased.created_at) == (ReportStatus.closed, START)
        assert kept.story is not None
        assert kept.callback_phone is not None
    for model, column in (
        (ReportMessage, ReportMessage.report_id),
        (Attachment, Attachment.report_id),
        (ReportEvent, ReportEvent.report_id),
    ):
        events = 2 if model is ReportEvent else 1  # the note and the legacy transition
        assert count(database, model, column == recent_report) == events
        assert count(database, model, column == old_report) == (events if events == 2 else 0)
    assert count(database, AttachmentContent) == 1
    with database.unit() as session:
        texts = {
            referral.report_id: (referral.note, referral.outcome, referral.status)
            for referral in session.exec(select(Referral)).all()
        }
    assert texts[old_report] == (None, None, ReferralStatus.done)
    assert texts[recent_report] == (b"encrypted note", b"encrypted outcome", ReferralStatus.done)
    assert count(database, ReportEvent, col(ReportEvent.text).is_not(None)) == 1
    with database.unit() as session:
        reasons = {
            event.report_id: event.detail
            for event in session.exec(
                select(ReportEvent).where(ReportEvent.kind == EventKind.transition)
            )
        }
    assert reasons[recent_report]["reason"] == LEGACY_REASON
    assert reasons[old_report] == {"action": "close", "to": "closed"}


def test_a_purged_story_is_in_neither_the_sqlite_file_nor_its_wal(
    sqlite_database: Database, crypto: Crypto, flows: Flows
) -> None:
    inbox = Inbox(sqlite_database, crypto, flows, clock=lambda: START)
    Phone(inbox).report()
    with sqlite_database.unit() as session:
        report = session.exec(select(Report)).one()
        report.status = ReportStatus.closed
        report.closed_at = START
        session.add(report)
        assert report.story is not None
        assert report.story_masked is not None
        session.add(
            ReportEvent(
                report_id=report.id,
                kind=EventKind.transition,
                at=START,
                detail={"action": "close", "reason": LEGACY_REASON},
            )
        )
        canaries = [report.story, report.story_masked, STORY.encode(), LEGACY_REASON.encode()]
    path = sqlite_path(sqlite_database.url)
    assert path is not None
    files = (path, Path(f"{path}-wal"))
    written = b"".join(file.read_bytes() for file in files)
    assert canaries[0] in written  # the ciphertext is there to be found before the purge

    apply_retention(sqlite_database, POLICY, NOW, dry_run=False)
    for file in files:
        content = file.read_bytes() if file.exists() else b""
        for canary in canaries:
            assert canary not in content, file.name
