"""Counted events in the database, so that limits hold across processes.

Rare events only (failed logins, failed receipt look-ups, submitted reports): a reporter's
messages are counted on their conversation row instead (bot/limits.py)."""

from __future__ import annotations

from datetime import datetime

from storage.db import Statement, Unit

_COUNT = Statement.of('SELECT count(*) FROM rate_event WHERE scope = ? AND "key" = ? AND at >= ?')
_ADD = Statement.of('INSERT INTO rate_event (scope, "key", at) VALUES (?, ?, ?)')


def count_events(scope: str, key: str, since: datetime, *, unit: Unit) -> int:
    return int(unit.first(_COUNT, (scope, key, unit.time(since)))[0])


def add_event(scope: str, key: str, now: datetime, *, unit: Unit) -> None:
    unit.run(_ADD, (scope, key, unit.time(now)))
