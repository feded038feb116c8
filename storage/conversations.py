"""Live conversations: one row per reporter pseudonym, the engine snapshot encrypted.

The turn's statements here go to the driver as they are (``storage.db.Statement``) and are read as
plain rows: a turn pays for no ORM unit of work and no SQL compilation."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.db import Statement, Unit
from storage.models import Attachment, Channel, Conversation

# What a turn reads of the reporter's conversation (``LiveConversation``), by reporter key.
READ = """SELECT id, locale, snapshot, expires_at, burst_count, burst_since FROM conversation
    WHERE reporter_key = ?"""
_LOCK = Statement.of(READ, lock=True)
_INSERT = Statement.of(
    """INSERT INTO conversation (reporter_key, channel, created_at, flow, state, locale, snapshot,
    updated_at, expires_at, burst_count, burst_since) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
)
_UPDATE = Statement.of(
    "UPDATE conversation SET flow = ?, state = ?, locale = ?, snapshot = ?, updated_at = ?,"
    " expires_at = ?, burst_count = ?, burst_since = ? WHERE id = ?"
)
_COUNT = Statement.of("UPDATE conversation SET burst_count = ?, burst_since = ? WHERE id = ?")
_DELETE = Statement.of("DELETE FROM conversation WHERE id = ?")
_FORGET = Statement.of("DELETE FROM attachment WHERE conversation_id = ?")


@dataclass(frozen=True, slots=True)
class LiveConversation:
    """What a turn reads of the reporter's conversation (a row, not an ORM object)."""

    id: int
    locale: str
    snapshot: bytes
    expires_at: datetime
    burst_count: int
    burst_since: datetime | None


@dataclass(frozen=True, slots=True)
class ConversationState:
    """What a turn writes: the step's snapshot (encrypted) and the burst counter."""

    flow: str
    state: str
    locale: str
    snapshot: bytes
    burst_count: int
    burst_since: datetime | None


def lock_conversation(reporter_key: str, *, unit: Unit) -> LiveConversation | None:
    """The reporter's conversation, locked for this unit of work (SQLite: the whole database)."""
    return live(unit.first(_LOCK, (reporter_key,)), unit)


def live(row: Sequence[Any] | None, unit: Unit) -> LiveConversation | None:
    """A row of ``READ``'s columns (all ``None``: no conversation)."""
    if row is None or row[0] is None:
        return None
    id_, locale, snapshot, expires_at, burst_count, burst_since = row
    expires = unit.read_time(expires_at)
    assert expires is not None
    return LiveConversation(
        id_, locale, bytes(snapshot), expires, burst_count, unit.read_time(burst_since)
    )


def save_conversation(
    reporter_key: str,
    channel: Channel,
    existing: LiveConversation | None,
    state: ConversationState,
    now: datetime,
    *,
    expires_at: datetime,
    unit: Unit,
) -> None:
    """One statement: the update of ``existing``, or the insert of a new conversation."""
    at = unit.time(now)
    values = (
        state.flow,
        state.state,
        state.locale,
        state.snapshot,
        at,
        unit.time(expires_at),
        state.burst_count,
        unit.time(state.burst_since),
    )
    if existing is not None:
        unit.run(_UPDATE, (*values, existing.id))
    else:
        unit.run(_INSERT, (reporter_key, channel.value, at, *values))


def count_messages(
    conversation: LiveConversation, count: int, since: datetime | None, *, unit: Unit
) -> None:
    """Only the burst counter, for a turn that changes nothing else."""
    unit.run(_COUNT, (count, unit.time(since), conversation.id))


def forget_attachments(conversation: LiveConversation, *, unit: Unit) -> None:
    """Evidence sent in this conversation that is not (yet) part of a report."""
    unit.session.flush()  # evidence added by the ORM earlier in this unit of work goes too
    unit.run(_FORGET, (conversation.id,))


def delete_conversation(conversation: LiveConversation, *, unit: Unit) -> None:
    """The conversation and everything drafted in it."""
    forget_attachments(conversation, unit=unit)
    unit.run(_DELETE, (conversation.id,))


def delete_expired_conversations(now: datetime, *, session: Session) -> int:
    expired = select(Conversation.id).where(col(Conversation.expires_at) < now)
    session.execute(
        sa.delete(Attachment).where(
            col(Attachment.conversation_id).in_(expired), col(Attachment.report_id).is_(None)
        )
    )
    result = session.execute(sa.delete(Conversation).where(col(Conversation.expires_at) < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
