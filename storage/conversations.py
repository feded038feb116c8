"""Live conversations: one row per reporter pseudonym, the engine snapshot encrypted.

The turn's statements here are SQLAlchemy Core, built once at import (their compiled form is then
cached by the engine) and read as plain rows: a turn pays for no ORM unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Attachment, Channel, Conversation, UTCDateTime

_TABLE: sa.Table = Conversation.__table__  # type: ignore[attr-defined]
_ATTACHMENTS: sa.Table = Attachment.__table__  # type: ignore[attr-defined]
_C = _TABLE.c

_LOCK = (
    sa.select(_C.id, _C.locale, _C.snapshot, _C.expires_at, _C.burst_count, _C.burst_since)
    .where(_C.reporter_key == sa.bindparam("reporter_key"))
    .with_for_update()
)
_INSERT = sa.insert(_TABLE)
_UPDATE = sa.update(_TABLE).where(_C.id == sa.bindparam("row_id"))
_COUNT = (
    sa.update(_TABLE)
    .where(_C.id == sa.bindparam("row_id"))
    .values(burst_count=sa.bindparam("count"), burst_since=sa.bindparam("since", type_=UTCDateTime))
)
_DELETE = sa.delete(_TABLE).where(_C.id == sa.bindparam("row_id"))
_FORGET = sa.delete(_ATTACHMENTS).where(_ATTACHMENTS.c.conversation_id == sa.bindparam("row_id"))


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


def lock_conversation(reporter_key: str, *, session: Session) -> LiveConversation | None:
    """The reporter's conversation, locked for this unit of work (SQLite: the whole database)."""
    row = session.connection().execute(_LOCK, {"reporter_key": reporter_key}).first()
    return None if row is None else LiveConversation(*row)


def save_conversation(
    reporter_key: str,
    channel: Channel,
    existing: LiveConversation | None,
    state: ConversationState,
    now: datetime,
    *,
    expires_at: datetime,
    session: Session,
) -> None:
    """One statement: the update of ``existing``, or the insert of a new conversation."""
    values = {
        "flow": state.flow,
        "state": state.state,
        "locale": state.locale,
        "snapshot": state.snapshot,
        "updated_at": now,
        "expires_at": expires_at,
        "burst_count": state.burst_count,
        "burst_since": state.burst_since,
    }
    connection = session.connection()
    if existing is not None:
        connection.execute(_UPDATE, {"row_id": existing.id, **values})
        return
    connection.execute(
        _INSERT, {"reporter_key": reporter_key, "channel": channel, "created_at": now, **values}
    )


def count_messages(
    conversation: LiveConversation, count: int, since: datetime | None, *, session: Session
) -> None:
    """Only the burst counter, for a turn that changes nothing else."""
    session.connection().execute(
        _COUNT, {"row_id": conversation.id, "count": count, "since": since}
    )


def forget_attachments(conversation: LiveConversation, *, session: Session) -> None:
    """Evidence sent in this conversation that is not (yet) part of a report."""
    session.flush()  # evidence added by the ORM earlier in this unit of work goes too
    session.connection().execute(_FORGET, {"row_id": conversation.id})


def delete_conversation(conversation: LiveConversation, *, session: Session) -> None:
    """The conversation and everything drafted in it."""
    forget_attachments(conversation, session=session)
    session.connection().execute(_DELETE, {"row_id": conversation.id})


def delete_expired_conversations(now: datetime, *, session: Session) -> int:
    expired = select(Conversation.id).where(col(Conversation.expires_at) < now)
    session.execute(
        sa.delete(Attachment).where(
            col(Attachment.conversation_id).in_(expired), col(Attachment.report_id).is_(None)
        )
    )
    result = session.execute(sa.delete(Conversation).where(col(Conversation.expires_at) < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
