"""Retention: what is forgotten, and when (README "Retention").

Drafts go when their conversation expires; deliveries and sent messages a while after they were
done with; a closed report, after a longer while, loses everything a person wrote or could be
reached by (its story, files, messages, notes, callback and reply address) and keeps the
structured, anonymous fields the statistics are made of; audit events and rate-limit events
last a fixed time. Counting and purging use the same conditions, so a dry run tells the truth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from storage.conversations import delete_expired_conversations
from storage.models import (
    Attachment,
    AttachmentContent,
    AuditEvent,
    Conversation,
    Inbound,
    InboundStatus,
    OutboxMessage,
    OutboxStatus,
    RateEvent,
    Referral,
    Report,
    ReportEvent,
    ReportMessage,
    ReportStatus,
    WhatsAppWindow,
)


@dataclass(frozen=True)
class RetentionPolicy:
    deliveries: timedelta = timedelta(days=7)
    closed_reports: timedelta = timedelta(days=90)
    audit_events: timedelta = timedelta(days=365)
    rate_events: timedelta = timedelta(days=1)


def _closed_before(cutoff: datetime) -> Any:
    return select(Report.id).where(
        Report.status == ReportStatus.closed, col(Report.closed_at) < cutoff
    )


def _conditions(policy: RetentionPolicy, now: datetime) -> dict[str, tuple[type[Any], Any]]:
    """For each kind of record, its table and the condition of being due."""
    closed = _closed_before(now - policy.closed_reports)
    return {
        "drafts": (Conversation, col(Conversation.expires_at) < now),
        "deliveries": (
            Inbound,
            sa.and_(
                col(Inbound.status).in_([InboundStatus.done, InboundStatus.failed]),
                col(Inbound.processed_at) < now - policy.deliveries,
            ),
        ),
        "outbox": (
            OutboxMessage,
            sa.and_(
                col(OutboxMessage.status).in_(
                    [
                        OutboxStatus.sent,
                        OutboxStatus.delivered,
                        OutboxStatus.failed,
                        # Held for a reporter who has not written again since: officers'
                        # messages still wait at ``status``, only this copy goes.
                        OutboxStatus.held,
                    ]
                ),
                # A message not sent (failed, held): its age counts from when it was written.
                func.coalesce(col(OutboxMessage.sent_at), col(OutboxMessage.created_at))
                < now - policy.deliveries,
            ),
        ),
        "closed_reports": (
            Report,
            sa.and_(
                col(Report.id).in_(closed),
                sa.or_(
                    col(Report.story).is_not(None),
                    col(Report.story_masked).is_not(None),
                    col(Report.callback_phone).is_not(None),
                    col(Report.reply_address).is_not(None),
                    col(Report.id).in_(select(ReportMessage.report_id)),
                    col(Report.id).in_(select(Attachment.report_id)),
                    col(Report.id).in_(
                        select(ReportEvent.report_id).where(
                            sa.or_(col(ReportEvent.text).is_not(None), _legacy_reason())
                        )
                    ),
                ),
            ),
        ),
        "audit_events": (AuditEvent, col(AuditEvent.at) < now - policy.audit_events),
        "rate_events": (RateEvent, col(RateEvent.at) < now - policy.rate_events),
        # A WhatsApp reporter's window once nothing happened in it for as long as deliveries
        # are kept (their held messages are gone by then too).
        "whatsapp_windows": (
            WhatsAppWindow,
            sa.and_(
                *(
                    sa.or_(column.is_(None), column < now - policy.deliveries)
                    for column in (
                        col(WhatsAppWindow.last_inbound_at),
                        col(WhatsAppWindow.held_since),
                        col(WhatsAppWindow.notice_at),
                    )
                )
            ),
        ),
    }


def count_expired(policy: RetentionPolicy, now: datetime, *, session: Session) -> dict[str, int]:
    """How many records of each kind a purge at ``now`` would delete (or, reports, erase)."""
    return {
        name: int(session.exec(select(func.count()).select_from(table).where(condition)).one())
        for name, (table, condition) in _conditions(policy, now).items()
    }


def purge_expired(policy: RetentionPolicy, now: datetime, *, session: Session) -> dict[str, int]:
    """Delete (or, reports, erase) what is due; the counts of what went."""
    counts = count_expired(policy, now, session=session)
    conditions = _conditions(policy, now)
    delete_expired_conversations(now, session=session)
    for name in ("deliveries", "outbox", "audit_events", "rate_events", "whatsapp_windows"):
        table, condition = conditions[name]
        session.execute(sa.delete(table).where(condition))
    _erase_closed_reports(_closed_before(now - policy.closed_reports), session=session)
    return counts


def _legacy_reason() -> Any:
    """Transition reasons were once kept in clear in ``detail`` (now they are encrypted ``text``):
    a database from then still holds some, and they go like the rest of what officers wrote."""
    return col(ReportEvent.detail)["reason"].as_string().is_not(None)


def _erase_closed_reports(closed: Any, *, session: Session) -> None:
    files = select(Attachment.id).where(col(Attachment.report_id).in_(closed))
    session.execute(
        sa.delete(AttachmentContent).where(col(AttachmentContent.attachment_id).in_(files))
    )
    session.execute(sa.delete(Attachment).where(col(Attachment.report_id).in_(closed)))
    session.execute(sa.delete(ReportMessage).where(col(ReportMessage.report_id).in_(closed)))
    session.execute(
        sa.update(Referral)
        .where(col(Referral.report_id).in_(closed))
        .values(note=None, reason=None, outcome=None)
    )
    session.execute(
        sa.update(ReportEvent)
        .where(col(ReportEvent.report_id).in_(closed), col(ReportEvent.text).is_not(None))
        .values(text=None)
    )
    legacy = select(ReportEvent).where(col(ReportEvent.report_id).in_(closed), _legacy_reason())
    for event in session.exec(legacy).all():
        event.detail = {key: value for key, value in event.detail.items() if key != "reason"}
        session.add(event)
    session.execute(
        sa.update(Report)
        .where(col(Report.id).in_(closed))
        .values(
            story=None,
            story_masked=None,
            callback_phone=None,
            reply_channel=None,
            reply_address=None,
            reply_expires_at=None,
        )
    )
