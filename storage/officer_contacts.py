"""How officers are reached for alerts: e-mail, duty status and a linked Telegram chat.

Addresses arrive here already encrypted (the caller holds the cipher), and a Telegram chat is
found again only by its keyed hash. A link code is kept as a keyed hash too, used once.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage.models import Officer, OfficerContact, OfficerLinkCode

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
EMAIL_MAX = 254
LINK_CODE_TTL = timedelta(minutes=10)


def valid_email(address: str) -> bool:
    return len(address) <= EMAIL_MAX and EMAIL.match(address) is not None


def contact_of(officer_id: int, *, session: Session) -> OfficerContact | None:
    return session.get(OfficerContact, officer_id)


def _contact_to_change(officer_id: int, now: datetime, session: Session) -> OfficerContact:
    contact = session.get(OfficerContact, officer_id, with_for_update=True)
    if contact is None:
        contact = OfficerContact(officer_id=officer_id, updated_at=now)
    contact.updated_at = now
    session.add(contact)
    return contact


def set_email(officer_id: int, email: bytes | None, now: datetime, *, session: Session) -> None:
    """``email`` is ciphertext, or ``None`` to stop e-mail alerts."""
    _contact_to_change(officer_id, now, session).email = email


def set_on_duty(officer_id: int, on_duty: bool, now: datetime, *, session: Session) -> None:
    _contact_to_change(officer_id, now, session).on_duty = on_duty


def issue_link_code(officer_id: int, code_hash: str, now: datetime, *, session: Session) -> None:
    """A new code for the officer; any older code of theirs stops working (and codes long
    expired, anyone's, are deleted on the way: nothing else needs them)."""
    session.execute(
        sa.delete(OfficerLinkCode).where(
            sa.or_(
                col(OfficerLinkCode.officer_id) == officer_id,
                col(OfficerLinkCode.expires_at) < now - LINK_CODE_TTL,
            )
        )
    )
    session.add(
        OfficerLinkCode(
            code_hash=code_hash,
            officer_id=officer_id,
            expires_at=now + LINK_CODE_TTL,
            created_at=now,
        )
    )
    session.flush()


def redeem_link_code(
    code_hash: str, chat: bytes, chat_key: str, now: datetime, *, session: Session
) -> Officer | None:
    """Link the chat (ciphertext, and its keyed hash) to the code's officer, once; ``None`` for a
    code that is unknown, used, expired or whose officer is no longer active."""
    code = session.exec(
        select(OfficerLinkCode).where(OfficerLinkCode.code_hash == code_hash).with_for_update()
    ).first()
    if code is None or code.expires_at <= now:
        return None
    officer = session.get(Officer, code.officer_id)
    if officer is None or not officer.active:
        return None
    if code.used_at is not None:
        # Telegram may deliver an update twice: the chat that used the code hears "linked" again.
        contact = session.get(OfficerContact, code.officer_id)
        return officer if contact is not None and contact.telegram_key == chat_key else None
    code.used_at = now
    session.add(code)
    # One chat, one account: linking it here unlinks it from whoever had it before.
    unlink_chat(chat_key, now, session=session)
    session.flush()
    contact = _contact_to_change(code.officer_id, now, session)
    contact.telegram_chat = chat
    contact.telegram_key = chat_key
    session.flush()
    return officer


def unlink_chat(chat_key: str, now: datetime, *, session: Session) -> bool:
    """The chat with this keyed hash gets no more alerts; ``False`` if it was not linked."""
    result = session.execute(
        sa.update(OfficerContact)
        .where(col(OfficerContact.telegram_key) == chat_key)
        .values(telegram_chat=None, telegram_key=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def forget_chat(officer_id: int, now: datetime, *, session: Session) -> None:
    """The officer blocked the bot: their chat is unlinked (they link again from the console)."""
    contact = session.get(OfficerContact, officer_id, with_for_update=True)
    if contact is not None:
        contact.telegram_chat = None
        contact.telegram_key = None
        contact.updated_at = now
        session.add(contact)
