"""WhatsApp's 24-hour customer-service window, one row per reporter pseudonym: when they last
wrote, since when messages wait for them, and the state of the template that tells them so.

Each function is one statement (an upsert or an update by primary key), so that a turn pays a
single round trip for it; only a turn that finds messages held pays a second one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from storage.db import Statement, Unit, conflict_insert
from storage.models import WhatsAppWindow, WindowNotice

_TABLE: sa.Table = WhatsAppWindow.__table__  # type: ignore[attr-defined]
_KEY = _TABLE.c.reporter_key


@dataclass(frozen=True)
class Window:
    last_inbound_at: datetime | None
    held_since: datetime | None
    notice: WindowNotice | None


def _upsert(session: Session, values: dict[str, Any]) -> Any:
    return conflict_insert(WhatsAppWindow, session.get_bind().dialect.name).values(**values)


def _window(row: sa.Row[Any] | None) -> Window | None:
    if row is None:
        return None
    # RETURNING and plain selects both go through the column types (aware UTC datetimes).
    notice = row.notice
    return Window(row.last_inbound_at, row.held_since, WindowNotice(notice) if notice else None)


_OPEN = Statement.of(
    """INSERT INTO whatsapp_window (reporter_key, last_inbound_at) VALUES (?, ?)
    ON CONFLICT (reporter_key) DO UPDATE SET last_inbound_at = excluded.last_inbound_at,
    notice = NULL, notice_at = NULL RETURNING held_since"""
)
_UNHOLD = Statement.of("UPDATE whatsapp_window SET held_since = NULL WHERE reporter_key = ?")


def open_window(reporter_key: str, now: datetime, *, unit: Unit) -> bool:
    """The reporter wrote: their window is open from ``now`` and a new closed window will get
    its own template. True when messages were held for them: the caller releases them."""
    (held_since,) = unit.first(_OPEN, (reporter_key, unit.time(now)))
    if held_since is None:
        return False
    unit.run(_UNHOLD, (reporter_key,))
    return True


def read_window(reporter_key: str, *, session: Session) -> Window | None:
    statement = sa.select(_TABLE.c.last_inbound_at, _TABLE.c.held_since, _TABLE.c.notice).where(
        col(WhatsAppWindow.reporter_key) == reporter_key
    )
    return _window(session.execute(statement).first())


def claim_notice(
    reporter_key: str, now: datetime, stale_before: datetime, *, session: Session
) -> bool:
    """This sender sends the template of the reporter's closed window, unless one was sent (or
    refused) already, or another sender is at it (a claim older than ``stale_before`` was left
    by a sender that died, and is taken over)."""
    claimed = {"notice": WindowNotice.claimed.value, "notice_at": now}
    statement = _upsert(session, {"reporter_key": reporter_key, **claimed})
    statement = statement.on_conflict_do_update(
        index_elements=[_KEY],
        set_=claimed,
        where=sa.or_(
            _TABLE.c.notice.is_(None),
            sa.and_(
                _TABLE.c.notice == WindowNotice.claimed.value,
                _TABLE.c.notice_at < stale_before,
            ),
        ),
    ).returning(_KEY)
    return session.execute(statement).first() is not None


def settle_notice(
    reporter_key: str, notice: WindowNotice | None, now: datetime, *, session: Session
) -> bool:
    """How the claimed template went (``None``: not at all, the next try claims again). False
    when the claim was no longer this sender's (the reporter wrote meanwhile)."""
    statement = (
        sa.update(WhatsAppWindow)
        .where(
            col(WhatsAppWindow.reporter_key) == reporter_key,
            _TABLE.c.notice == WindowNotice.claimed.value,
        )
        .values(notice=notice.value if notice else None, notice_at=now if notice else None)
    )
    return bool(session.execute(statement).rowcount)  # type: ignore[attr-defined]


def hold(reporter_key: str, since: datetime, *, session: Session) -> Window:
    """A message written at ``since`` now waits for the reporter to write; the window as it is
    (a notice of ``None`` with a recent ``last_inbound_at`` means they wrote meanwhile)."""
    statement = _upsert(session, {"reporter_key": reporter_key, "held_since": since})
    statement = statement.on_conflict_do_update(
        index_elements=[_KEY],
        set_={"held_since": sa.func.coalesce(_TABLE.c.held_since, statement.excluded.held_since)},
    ).returning(_TABLE.c.last_inbound_at, _TABLE.c.held_since, _TABLE.c.notice)
    window = _window(session.execute(statement).first())
    assert window is not None
    return window
