"""Officer accounts. Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from storage import audit, ratelimit
from storage.db import Unit
from storage.models import Agency, Officer, Role

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Verifying against this when the username is unknown keeps the timing of both answers alike.
_DUMMY_HASH = _hasher.hash("lapor-aman-timing-equaliser")


LOGIN_FAILURE = "login_failure"


@dataclass(frozen=True)
class LoginLimit:
    """``failures`` wrong passwords for one username within ``window`` lock it for ``window``."""

    failures: int = 5
    window: timedelta = timedelta(minutes=15)


class OfficerError(Exception):
    """An account cannot be created as asked (the message says why, in one line)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def create_officer(
    username: str, password: str, *, agency: Agency, role: Role, session: Session
) -> Officer:
    username = username.strip().lower()
    if not USERNAME.match(username):
        raise OfficerError(
            "a username is 3-64 characters: lower-case letters, digits, dot, dash, underscore"
        )
    if len(password) < MIN_PASSWORD_LENGTH:
        raise OfficerError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if session.exec(select(Officer).where(Officer.username == username)).first() is not None:
        raise OfficerError(f"officer {username} already exists")
    assert agency.id is not None
    officer = Officer(
        username=username, password_hash=hash_password(password), agency_id=agency.id, role=role
    )
    session.add(officer)
    session.flush()
    return officer


def find_officer(username: str, *, session: Session) -> Officer | None:
    """The officer with this username; None for anything that cannot be one (no query)."""
    wanted = username.strip().lower()
    if not USERNAME.match(wanted):
        return None
    return session.exec(select(Officer).where(Officer.username == wanted)).first()


def authenticate(username: str, password: str, *, session: Session) -> Officer | None:
    """The active officer with these credentials, or None (same work either way)."""
    officer = find_officer(username, session=session)
    stored = officer.password_hash if officer is not None and officer.active else _DUMMY_HASH
    try:
        _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if officer is None or not officer.active:
        return None
    if _hasher.check_needs_rehash(stored):
        officer.password_hash = hash_password(password)
        session.add(officer)
    return officer


def log_in(
    username: str, password: str, now: datetime, limit: LoginLimit, *, session: Session
) -> Officer | None:
    """:func:`authenticate`, unless the username is locked by recent failures; a locked account and
    a wrong password get the same ``None`` (and the same work), so the lock tells a guesser
    nothing. Failures are counted and audited."""
    # The key is a digest: what was typed may be anything, even a password in the wrong field.
    key = hashlib.sha256(username.strip().lower().encode("utf-8", "replace")).hexdigest()
    unit = Unit.of(session)
    failures = ratelimit.count_events(LOGIN_FAILURE, key, now - limit.window, unit=unit)
    locked = failures >= limit.failures
    officer = authenticate(username, password, session=session)
    if officer is not None and not locked:
        audit.record("auth.login", now, officer_id=officer.id, session=session)
        return officer
    ratelimit.add_event(LOGIN_FAILURE, key, now, unit=unit)
    found = find_officer(username, session=session)
    known = found.id if found is not None else None
    audit.record(
        "auth.locked" if locked else "auth.failed",
        now,
        officer_id=known,
        detail={"known_user": known is not None},
        session=session,
    )
    return None


def list_officers(*, agency_id: int | None, session: Session) -> list[Officer]:
    """Officers by username: of one agency, or (``None``) all of them."""
    statement = select(Officer).order_by(col(Officer.username))
    if agency_id is not None:
        statement = statement.where(Officer.agency_id == agency_id)
    return list(session.exec(statement).all())
