"""Inbound deliveries: recorded once (unique channel + delivery key) before anything else."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from storage import chat_messages, conversations
from storage.db import Statement, Unit
from storage.models import Channel, Inbound, InboundStatus

_INSERT = """INSERT INTO inbound (channel, delivery_key, reporter_key, payload, status, attempts,
    received_at, processed_at) VALUES (?, ?, ?, ?, ?, 0, ?, ?)
    ON CONFLICT (channel, delivery_key) DO NOTHING RETURNING id"""
_RECORD = Statement.of(_INSERT)


def _fused(*, remember: bool) -> Statement:
    """PostgreSQL: the delivery recorded, and the reporter's conversation locked, in one round
    trip (nothing at all for a duplicate); with ``remember``, the Telegram message's id kept for
    a quick exit too (``chat_messages``). SQLite has neither an INSERT inside WITH nor FOR UPDATE
    (it would refuse this statement): there, the statements one after the other."""
    shown = f", shown AS ({chat_messages.INSERT_INTO} SELECT ?, ?, ? FROM delivery)"  # noqa: S608
    return Statement.of(
        f"""WITH delivery AS ({_INSERT}){shown if remember else ""}
        SELECT delivery.id, live.* FROM delivery
        LEFT JOIN LATERAL ({conversations.READ} FOR UPDATE) live ON true"""  # noqa: S608
    )


_RECORD_AND_LOCK = _fused(remember=False)
_RECORD_REMEMBER_AND_LOCK = _fused(remember=True)


def record_inbound(
    channel: Channel,
    delivery_key: str,
    reporter_key: str,
    payload: bytes,
    now: datetime,
    *,
    unit: Unit,
) -> int | None:
    """The new row's id (a delivery to process later, ``payload`` its content encrypted), or
    ``None`` when this delivery was recorded before (a duplicate)."""
    values = _values(
        channel, delivery_key, reporter_key, payload=payload, now=now, processed=False, unit=unit
    )
    row = unit.first(_RECORD, values)
    return None if row is None else int(row[0])


def take_delivery(
    channel: Channel,
    delivery_key: str,
    reporter_key: str,
    now: datetime,
    *,
    shown: int | None,
    unit: Unit,
) -> tuple[int, conversations.LiveConversation | None] | None:
    """A turn's start: the delivery recorded, as done (the turn runs in this same transaction:
    if it fails, the row goes with it), the reporter's conversation locked
    (``conversations.lock_conversation``), and the id of the message in their chat (``shown``,
    Telegram's) remembered for a quick exit. The row's id and the conversation; ``None`` for a
    duplicate."""
    values = _values(
        channel, delivery_key, reporter_key, payload=None, now=now, processed=True, unit=unit
    )
    if unit.sqlite:
        row = unit.first(_RECORD, values)
        if row is None:
            return None
        return int(row[0]), lock_for_turn(reporter_key, shown, now, unit=unit)
    if shown is None:
        row = unit.first(_RECORD_AND_LOCK, (*values, reporter_key))
    else:
        remembered = (reporter_key, shown, unit.time(now))
        row = unit.first(_RECORD_REMEMBER_AND_LOCK, (*values, *remembered, reporter_key))
    if row is None:
        return None
    return int(row[0]), conversations.live(row[1:], unit)


def lock_for_turn(
    reporter_key: str, shown: int | None, now: datetime, *, unit: Unit
) -> conversations.LiveConversation | None:
    """What a turn does once its delivery is recorded: the reporter's conversation locked, and
    the id of the message in their chat (``shown``) remembered for a quick exit. (On PostgreSQL
    ``take_delivery`` does it in its one statement; the sweeper's turns of deliveries recorded
    before call this.)"""
    live = conversations.lock_conversation(reporter_key, unit=unit)
    if shown is not None:
        chat_messages.remember_messages(reporter_key, [shown], now, unit=unit)
    return live


def _values(
    channel: Channel,
    delivery_key: str,
    reporter_key: str,
    *,
    payload: bytes | None,
    now: datetime,
    processed: bool,
    unit: Unit,
) -> tuple[object, ...]:
    at = unit.time(now)
    status = InboundStatus.done if processed else InboundStatus.received
    return (
        channel.value,
        delivery_key,
        reporter_key,
        payload,
        status.value,
        at,
        at if processed else None,
    )


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
