"""Officer accounts. Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106)."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, select

from storage.models import Agency, Officer, Role

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{2,63}$")
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# Verifying against this when the username is unknown keeps the timing of both answers alike.
_DUMMY_HASH = _hasher.hash("lapor-aman-timing-equaliser")


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


def authenticate(username: str, password: str, *, session: Session) -> Officer | None:
    """The active officer with these credentials, or None (same work either way)."""
    officer = session.exec(
        select(Officer).where(Officer.username == username.strip().lower())
    ).first()
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
