"""Live conversations: one row per reporter pseudonym, the engine snapshot encrypted."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Attachment, Conversation


def lock_conversation(reporter_key: str, *, session: Session) -> Conversation | None:
    """The reporter's conversation, locked for this unit of work (SQLite: the whole database)."""
    statement = select(Conversation).where(Conversation.reporter_key == reporter_key)
    return session.exec(statement.with_for_update()).first()


def forget_attachments(conversation: Conversation, *, session: Session) -> None:
    """Evidence sent in this conversation that is not (yet) part of a report."""
    session.execute(sa.delete(Attachment).where(col(Attachment.conversation_id) == conversation.id))


def delete_conversation(conversation: Conversation, *, session: Session) -> None:
    """The conversation and everything drafted in it."""
    forget_attachments(conversation, session=session)
    session.delete(conversation)
    session.flush()


def delete_expired_conversations(now: datetime, *, session: Session) -> int:
    expired = select(Conversation.id).where(col(Conversation.expires_at) < now)
    session.execute(
        sa.delete(Attachment).where(
            col(Attachment.conversation_id).in_(expired), col(Attachment.report_id).is_(None)
        )
    )
    result = session.execute(sa.delete(Conversation).where(col(Conversation.expires_at) < now))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
