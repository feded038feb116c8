"""Inbound deliveries: recorded once (unique channel + delivery key) before anything else."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage.db import Statement, Unit
from storage.models import Channel, Inbound, InboundStatus

_RECORD = Statement.of(
    """INSERT INTO inbound (channel, delivery_key, reporter_key, payload, status, attempts,
    received_at, processed_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)
    ON CONFLICT (channel, delivery_key) DO NOTHING RETURNING id"""
)


def record_inbound(
    channel: Channel,
    delivery_key: str,
    reporter_key: str,
    payload: bytes | None,
    now: datetime,
    *,
    processed: bool = False,
    unit: Unit,
) -> int | None:
    """The new row's id, or ``None`` when this delivery was recorded before (a duplicate).

    ``processed``: the turn runs in this same transaction, so the row is written as done (if the
    turn fails, the row goes with it)."""
    at = unit.time(now)
    status = InboundStatus.done if processed else InboundStatus.received
    row = unit.first(
        _RECORD,
        (
            channel.value,
            delivery_key,
            reporter_key,
            payload,
            status.value,
            at,
            at if processed else None,
        ),
    )
    return None if row is None else int(row[0])


def lock_inbound(inbound_id: int, *, session: Session) -> Inbound | None:
    """The delivery if it still waits to be processed, locked (another process may be on it)."""
    statement = select(Inbound).where(
        Inbound.id == inbound_id, Inbound.status == InboundStatus.received
    )
    return session.exec(statement.with_for_update(skip_locked=True)).first()


def finish_inbound(inbound: Inbound, now: datetime, *, session: Session) -> None:
    """Done: the payload (which holds the reply address) is not kept any longer than needed."""
    inbound.status = InboundStatus.done
    inbound.processed_at = now
    inbound.payload = None
    session.add(inbound)


def unprocessed_inbound(older_than: datetime, *, limit: int, session: Session) -> list[int]:
    """Deliveries recorded but not processed (a crash in between): the sweeper finishes them."""
    statement = (
        select(Inbound.id)
        .where(Inbound.status == InboundStatus.received, col(Inbound.received_at) < older_than)
        .order_by(col(Inbound.id))
        .limit(limit)
    )
    return [int(value) for value in session.exec(statement).all() if value is not None]
