"""Work queues in tables (the outbox, evidence to fetch): due rows are leased, not locked for the
length of the work, so a slow send or download holds no transaction open."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TypeVar

from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from storage.models import Alert, Attachment, OutboxMessage

Leased = TypeVar("Leased", OutboxMessage, Attachment, Alert)


def lease_due(
    due: SelectOfScalar[Leased], now: datetime, lease: timedelta, *, session: Session
) -> list[Leased]:
    """The rows ``due`` selects, with their next attempt moved past the lease: another worker
    skips them while this one works (and takes them again if this one dies). ``SKIP LOCKED``
    keeps concurrent workers off the rows another is leasing right now."""
    rows = list(session.exec(due.with_for_update(skip_locked=True)).all())
    for row in rows:
        row.next_attempt_at = now + lease
        session.add(row)
    return rows
