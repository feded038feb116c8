"""Limits per reporter (pseudonym): reports submitted per hour, and bursts of messages.

Both are counted in the database (storage/ratelimit.py), so they hold across processes sharing
one PostgreSQL. A burst gets one kind reply and the rest of it is not read until it ebbs; the
words that must work in every step (emergency, quick exit, help…) and danger phrases are always
read. A report over the hourly limit is not sent, and its draft waits at the review step.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from sqlmodel import Session

from flows.safety import command_of, has_danger_phrase
from flows.types import Effect, EffectKind, InputKind, UserInput
from storage import ratelimit

MESSAGE = "message"
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


def check_burst(
    user_input: UserInput,
    reporter_key: str,
    now: datetime,
    *,
    limit: int,
    window: timedelta,
    session: Session,
) -> Burst:
    """Count this message; whether it is read. A flood that goes on keeps the window full, so
    it stays quiet until the reporter pauses for a whole window."""
    recent = ratelimit.count_events(MESSAGE, reporter_key, now - window, session=session)
    ratelimit.add_event(MESSAGE, reporter_key, now, session=session)
    if recent < limit or _always_read(user_input):
        return Burst.read
    return Burst.warn if recent == limit else Burst.quiet


def admit_report(
    effects: list[Effect], reporter_key: str, now: datetime, *, limit: int, session: Session
) -> bool:
    """False when ``effects`` would submit a report past the hourly limit; a report admitted
    is counted."""
    if not any(effect.kind is EffectKind.submit_report for effect in effects):
        return True
    if ratelimit.count_events(REPORT, reporter_key, now - HOUR, session=session) >= limit:
        return False
    ratelimit.add_event(REPORT, reporter_key, now, session=session)
    return True
