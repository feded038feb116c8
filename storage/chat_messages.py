"""Ids of the messages in reporters' Telegram chats, kept only so a quick exit can delete them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.db import Statement, Unit
from storage.models import ChatMessage

INSERT_INTO = "INSERT INTO chat_message (reporter_key, message_id, at)"
_INSERT = Statement.of(f"{INSERT_INTO} VALUES (?, ?, ?)")


def remember_messages(
    reporter_key: str, message_ids: Iterable[int], now: datetime, *, unit: Unit
) -> None:
    at = unit.time(now)
    rows = [(reporter_key, id_, at) for id_ in message_ids]
    if len(rows) == 1:
        unit.run(_INSERT, rows[0])
    elif rows:
        unit.run_many(_INSERT, rows)


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
