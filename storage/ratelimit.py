"""Counted events in the database, so that limits hold across processes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, func, select

from storage.models import RateEvent


def count_events(scope: str, key: str, since: datetime, *, session: Session) -> int:
    statement = select(func.count()).where(
        RateEvent.scope == scope, RateEvent.key == key, col(RateEvent.at) >= since
    )
    return int(session.exec(statement).one())


def add_event(scope: str, key: str, now: datetime, *, session: Session) -> None:
    session.add(RateEvent(scope=scope, key=key, at=now))
