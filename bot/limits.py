"""Limits per reporter (pseudonym): reports submitted per hour, and bursts of messages.

Both are counted in the database, so they hold across processes sharing one PostgreSQL: messages
on the reporter's conversation row (which the turn locks and writes anyway), reports in
storage/ratelimit.py. A burst gets one kind reply and the rest of it is not read until it ebbs; the
words that must work in every step (emergency, quick exit, help…) and danger phrases are always
read. A report over the hourly limit is not sent, and its draft waits at the review step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flows.safety import command_of, has_danger_phrase
from flows.types import Effect, EffectKind, InputKind, UserInput
from storage import ratelimit
from storage.db import Unit

REPORT = "report"
SLOW_DOWN = "rate_limited"
TOO_MANY_REPORTS = "report.too_many"
HOUR = timedelta(hours=1)


class Burst(StrEnum):
    read = "read"
    warn = "warn"  # the first message over the limit: answered, not read
    quiet = "quiet"  # the rest of the burst: not read, not answered


def _always_read(user_input: UserInput) -> bool:
    if user_input.kind is InputKind.text:
        return command_of(user_input.text) is not None or has_danger_phrase(user_input.text)
    return user_input.kind is InputKind.choice and user_input.choice.endswith(":emergency")


@dataclass(frozen=True, slots=True)
class BurstCount:
    """The reporter's messages counted in the current window (kept on their conversation)."""

    count: int = 0
    since: datetime | None = None


def check_burst(
    user_input: UserInput,
    counted: BurstCount,
    now: datetime,
    *,
    limit: int,
    window: timedelta,
) -> tuple[Burst, BurstCount]:
    """Count this message; whether it is read, and the count to keep. The window starts at the
    first message counted and ends ``window`` later: a flood that goes on gets one kind reply a
    window, and everything past the limit in it is not read."""
    if counted.since is None or now - counted.since >= window:
        counted = BurstCount(0, now)
    recent = counted.count
    after = BurstCount(recent + 1, counted.since)
    if recent < limit or _always_read(user_input):
        return Burst.read, after
    return (Burst.warn if recent == limit else Burst.quiet), after


def admit_report(
    effects: list[Effect], reporter_key: str, now: datetime, *, limit: int, unit: Unit
) -> bool:
    """False when ``effects`` would submit a report past the hourly limit; a report admitted
    is counted. (Asked every turn: only a submission costs statements.)"""
    if not any(effect.kind is EffectKind.submit_report for effect in effects):
        return True
    if ratelimit.count_events(REPORT, reporter_key, now - HOUR, unit=unit) >= limit:
        return False
    ratelimit.add_event(REPORT, reporter_key, now, unit=unit)
    return True
