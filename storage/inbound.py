"""Inbound deliveries: recorded once (unique channel + delivery key) before anything else."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.db import conflict_insert
from storage.models import Channel, Inbound, InboundStatus


def _record_statement(dialect: str) -> sa.Insert:
    return (
        conflict_insert(_TABLE, dialect)
        .on_conflict_do_nothing(index_elements=["channel", "delivery_key"])
        .returning(_TABLE.c.id)
    )


_TABLE: sa.Table = Inbound.__table__  # type: ignore[attr-defined]
# Built once: the engine caches each one's compiled form, so a turn only binds its values.
_RECORD = {dialect: _record_statement(dialect) for dialect in ("postgresql", "sqlite")}


def record_inbound(
    channel: Channel,
    delivery_key: str,
    reporter_key: str,
    payload: bytes | None,
    now: datetime,
    *,
    processed: bool = False,
    session: Session,
) -> int | None:
    """The new row's id, or ``None`` when this delivery was recorded before (a duplicate).

    ``processed``: the turn runs in this same transaction, so the row is written as done (if the
    turn fails, the row goes with it)."""
    connection = session.connection()
    inserted = connection.execute(
        _RECORD[connection.dialect.name],
        {
            "channel": channel,
            "delivery_key": delivery_key,
            "reporter_key": reporter_key,
            "payload": payload,
            "status": InboundStatus.done if processed else InboundStatus.received,
            "attempts": 0,
            "received_at": now,
            "processed_at": now if processed else None,
        },
    ).scalar_one_or_none()
    return int(inserted) if inserted is not None else None


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
