"""The outbox: messages to reporters, written in the turn's transaction, delivered later."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

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


def mark_sent(message: OutboxMessage, now: datetime, *, session: Session) -> None:
    """Sent: the text and address are not kept once delivered."""
    message.status = OutboxStatus.sent
    message.sent_at = now
    message.payload = b""
    message.address = b""
    session.add(message)


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
