"""The outbox: messages to reporters, written in the turn's transaction, delivered later."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.db import Statement, Unit
from storage.models import Channel, OutboxMessage, OutboxStatus


def enqueue(
    channel: Channel,
    reporter_key: str,
    address: bytes,
    payload: bytes,
    now: datetime,
    *,
    session: Session,
) -> OutboxMessage:
    message = OutboxMessage(
        channel=channel,
        reporter_key=reporter_key,
        address=address,
        payload=payload,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    session.flush()
    return message


_INSERT = """INSERT INTO outbox (channel, reporter_key, address, payload, status, attempts,
    parts_sent, next_attempt_at, created_at) VALUES """
_ROW = "(?, ?, ?, ?, ?, 0, 0, ?, ?)"


@functools.cache
def _insert(rows: int) -> Statement:
    """One INSERT of ``rows`` rows: a single statement, where an executemany would be one per
    row (on PostgreSQL each its own round trip, or a pipeline that costs more than it saves)."""
    return Statement.of(_INSERT + ", ".join([_ROW] * rows))


def enqueue_many(
    channel: Channel,
    reporter_key: str,
    address: bytes,
    payloads: Sequence[bytes],
    now: datetime,
    *,
    unit: Unit,
) -> None:
    """A turn's messages to one reporter, in order (ids ascending), in one statement."""
    if not payloads:
        return
    at, pending = unit.time(now), OutboxStatus.pending.value
    fixed = (channel.value, reporter_key, address)
    values = [value for payload in payloads for value in (*fixed, payload, pending, at, at)]
    unit.run(_insert(len(payloads)), values)


def pending_for_reporter(
    channel: Channel, reporter_key: str, *, session: Session
) -> list[OutboxMessage]:
    """A reporter's undelivered messages, oldest first (the terminal channel reads these)."""
    statement = (
        select(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.reporter_key == reporter_key,
            OutboxMessage.status == OutboxStatus.pending,
        )
        .order_by(col(OutboxMessage.id))
        .with_for_update(skip_locked=True)
    )
    return list(session.exec(statement).all())


def mark_sent(
    message: OutboxMessage, now: datetime, *, provider_key: str | None = None, session: Session
) -> None:
    """Sent: the text and address are not kept once delivered."""
    message.status = OutboxStatus.sent
    message.sent_at = now
    message.provider_key = provider_key
    message.payload = b""
    message.address = b""
    session.add(message)


_MARK_SENT = Statement.of(
    """UPDATE outbox SET status = ?, sent_at = ?, provider_key = ?, payload = ?, address = ?
    WHERE id = ? AND status = ?"""
)


def mark_many_sent(sent: Sequence[tuple[int, str | None]], now: datetime, *, unit: Unit) -> None:
    """``mark_sent`` for several messages (id, provider key) at once, through the driver; a
    message no longer pending (another sender recorded it) is left as it is."""
    at, done, pending = unit.time(now), OutboxStatus.sent.value, OutboxStatus.pending.value
    rows = [(done, at, key, b"", b"", message_id, pending) for message_id, key in sent]
    unit.run_many(_MARK_SENT, rows)


class Due(NamedTuple):
    """A leased message, as the sender needs it."""

    id: int
    reporter_key: str
    address: bytes
    payload: bytes
    parts_sent: int


_DUE = """SELECT id FROM outbox WHERE channel = ? AND status = ? AND next_attempt_at <= ?
    ORDER BY id LIMIT ?"""
_LEASE = """UPDATE outbox SET next_attempt_at = ? WHERE id IN ({due})
    RETURNING id, reporter_key, address, payload, parts_sent"""
# PostgreSQL: ``SKIP LOCKED`` keeps concurrent senders off the rows another is leasing now.
_CLAIM = Statement(
    " ".join(_LEASE.format(due=_DUE).split()),
    " ".join(_LEASE.format(due=_DUE + " FOR UPDATE SKIP LOCKED").replace("?", "%s").split()),
)


def claim_due(
    channel: Channel, now: datetime, lease: timedelta, *, limit: int, unit: Unit
) -> list[Due]:
    """Due messages of ``channel``, oldest first, leased to this sender: their next attempt moves
    past the lease, so another sender skips them while this one sends (and takes them again if
    this one dies). One statement (see ``storage.leases`` for the same done by the ORM)."""
    rows = unit.run(
        _CLAIM,
        (
            unit.time(now + lease),
            channel.value,
            OutboxStatus.pending.value,
            unit.time(now),
            limit,
        ),
    ).fetchall()
    return sorted(map(Due._make, rows))


def retry_later(
    message: OutboxMessage, when: datetime, error: str, parts_sent: int, *, session: Session
) -> None:
    message.attempts += 1
    message.next_attempt_at = when
    message.last_error = error[:64]
    message.parts_sent = parts_sent
    session.add(message)


def give_up(
    message: OutboxMessage, status: OutboxStatus, error: str, parts_sent: int, *, session: Session
) -> None:
    """``held`` keeps the message for the reporter's next message; ``failed`` drops its text."""
    message.attempts += 1
    message.status = status
    message.last_error = error[:64]
    message.parts_sent = parts_sent
    if status is OutboxStatus.failed:
        message.payload = b""
        message.address = b""
    session.add(message)


_RELEASE = Statement.of(
    """UPDATE outbox SET status = ?, next_attempt_at = ?
    WHERE channel = ? AND reporter_key = ? AND status = ?"""
)


def release_held(channel: Channel, reporter_key: str, now: datetime, *, unit: Unit) -> int:
    """The reporter wrote again (WhatsApp's 24-hour window is open): held messages go out."""
    pending, held = OutboxStatus.pending.value, OutboxStatus.held.value
    values = (pending, unit.time(now), channel.value, reporter_key, held)
    return int(unit.run(_RELEASE, values).rowcount or 0)


class Backlog(NamedTuple):
    """Messages of one channel due to go and not yet taken by a sender, and since when."""

    channel: Channel
    due: int
    oldest: datetime


def backlog(now: datetime, *, session: Session) -> list[Backlog]:
    """What waits for the senders now, per channel with anything waiting (one index range: the
    pending rows due by ``now``; a leased message is not due until its lease runs out)."""
    rows = session.execute(
        sa.select(
            col(OutboxMessage.channel),
            sa.func.count(),
            sa.func.min(col(OutboxMessage.next_attempt_at)),
        )
        .where(
            col(OutboxMessage.status) == OutboxStatus.pending,
            col(OutboxMessage.next_attempt_at) <= now,
        )
        .group_by(col(OutboxMessage.channel))
    ).all()
    return [Backlog(Channel(channel), int(due), oldest) for channel, due, oldest in rows]


def record_receipt(
    provider_key: str, status: str, error_code: int | None, *, session: Session
) -> None:
    """A platform's delivery receipt for a message we sent (matched by its hashed id)."""
    message = session.exec(
        select(OutboxMessage).where(OutboxMessage.provider_key == provider_key)
    ).first()
    if message is None:
        return
    if status in ("delivered", "read"):
        message.status = OutboxStatus.delivered
    elif status == "failed":
        message.status = OutboxStatus.failed
        message.last_error = f"receipt:{error_code}" if error_code is not None else "receipt"
    session.add(message)


def drop_for_reporter(channel: Channel, reporter_key: str, reason: str, *, session: Session) -> int:
    """Fail every message still waiting for this reporter, dropping text and address."""
    result = session.execute(
        sa.update(OutboxMessage)
        .where(
            col(OutboxMessage.channel) == channel,
            col(OutboxMessage.reporter_key) == reporter_key,
            col(OutboxMessage.status).in_([OutboxStatus.pending, OutboxStatus.held]),
        )
        .values(status=OutboxStatus.failed, last_error=reason[:64], payload=b"", address=b"")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def lock_messages(message_ids: list[int], *, session: Session) -> list[OutboxMessage]:
    """The rows of ``message_ids`` (those still there), locked: a sender records their outcomes."""
    statement = (
        select(OutboxMessage)
        .where(col(OutboxMessage.id).in_(message_ids))
        .order_by(col(OutboxMessage.id))
        .with_for_update()
    )
    return list(session.exec(statement).all())
