"""Counted events in the database, so that limits hold across processes.

Rare events only (failed logins, failed receipt look-ups, submitted reports): a reporter's
messages are counted on their conversation row instead (bot/limits.py)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from storage.models import RateEvent

_TABLE: sa.Table = RateEvent.__table__  # type: ignore[attr-defined]
_COUNT = (
    sa.select(sa.func.count())
    .select_from(_TABLE)
    .where(
        _TABLE.c.scope == sa.bindparam("scope"),
        _TABLE.c.key == sa.bindparam("key"),
        _TABLE.c.at >= sa.bindparam("since"),
    )
)
_ADD = sa.insert(_TABLE)


def count_events(scope: str, key: str, since: datetime, *, session: Session) -> int:
    found = session.connection().execute(_COUNT, {"scope": scope, "key": key, "since": since})
    return int(found.scalar_one())


def add_event(scope: str, key: str, now: datetime, *, session: Session) -> None:
    session.connection().execute(_ADD, {"scope": scope, "key": key, "at": now})
