"""Evidence attachments: pending ones leased to the fetcher, stored content kept encrypted apart
from the attachment rows (so listing a report's files never loads them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from storage.leases import lease_due
from storage.models import Attachment, AttachmentContent, AttachmentStatus


def add_pending(
    conversation_id: int,
    kind: str,
    content_type: str,
    source: bytes,
    now: datetime,
    *,
    session: Session,
) -> Attachment:
    attachment = Attachment(
        conversation_id=conversation_id,
        kind=kind[:16],
        content_type=content_type[:100] or "application/octet-stream",
        size=0,
        sha256="",
        status=AttachmentStatus.pending,
        source=source,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(attachment)
    session.flush()
    return attachment


def claim_pending(
    now: datetime, lease: timedelta, *, limit: int, session: Session
) -> list[Attachment]:
    statement = (
        select(Attachment)
        .where(
            Attachment.status == AttachmentStatus.pending,
            col(Attachment.next_attempt_at) <= now,
        )
        .order_by(col(Attachment.created_at))
        .limit(limit)
    )
    return lease_due(statement, now, lease, session=session)


def retry(attachment_id: str, when: datetime, error: str, *, session: Session) -> None:
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        return
    attachment.attempts += 1
    attachment.next_attempt_at = when
    attachment.last_error = error[:64]
    session.add(attachment)


def store(
    attachment_id: str,
    encrypted: bytes,
    *,
    size: int,
    content_type: str,
    sha256: str,
    session: Session,
) -> None:
    """The file is in; where it came from is forgotten. (Gone already: the draft was deleted.)"""
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        return
    attachment.status = AttachmentStatus.stored
    attachment.size = size
    attachment.content_type = content_type[:100]
    attachment.sha256 = sha256
    attachment.source = None
    session.add(attachment)
    session.add(AttachmentContent(attachment_id=attachment_id, data=encrypted))


def drop(attachment_id: str, reason: str, *, session: Session) -> None:
    attachment = session.get(Attachment, attachment_id)
    if attachment is None:
        return
    attachment.status = AttachmentStatus.dropped
    attachment.last_error = reason[:64]
    attachment.source = None
    session.add(attachment)


def content_of(attachment_id: str, *, session: Session) -> bytes | None:
    found = session.get(AttachmentContent, attachment_id)
    return found.data if found is not None else None
