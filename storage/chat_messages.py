"""Ids of the messages in reporters' Telegram chats, kept only so a quick exit can delete them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import ChatMessage

_INSERT = sa.insert(ChatMessage.__table__)  # type: ignore[attr-defined]


def remember_messages(
    reporter_key: str, message_ids: Iterable[int], now: datetime, *, session: Session
) -> None:
    rows = [{"reporter_key": reporter_key, "message_id": id_, "at": now} for id_ in message_ids]
    if rows:
        session.connection().execute(_INSERT, rows)


def take_messages(reporter_key: str, since: datetime, *, session: Session) -> list[int]:
    """The reporter's messages from ``since`` on, oldest first; every row of theirs is gone after
    (older ones can no longer be deleted from the chat, so they are of no use)."""
    rows = session.exec(
        select(ChatMessage.message_id)
        .where(ChatMessage.reporter_key == reporter_key, col(ChatMessage.at) >= since)
        .order_by(col(ChatMessage.message_id))
    ).all()
    session.execute(sa.delete(ChatMessage).where(col(ChatMessage.reporter_key) == reporter_key))
    return sorted(set(rows))


def prune_messages(before: datetime, *, session: Session) -> int:
    result = session.execute(sa.delete(ChatMessage).where(col(ChatMessage.at) < before))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
