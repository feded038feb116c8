"""Officer access: short-lived HS256 tokens (PyJWT) and the ``CurrentOfficer`` dependency.

A token names the officer by id only. Every request loads the officer again, so a deactivated
account or a changed role takes effect at once, not when the token expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import jwt
from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlmodel import select

from api.runtime import Runtime
from storage.models import Agency, Officer, Role
from storage.triage import Scope

ALGORITHM = "HS256"
ISSUER = "lapor-aman"
LOGIN_PATH = "/api/v1/auth/token"

_bearer = OAuth2PasswordBearer(
    tokenUrl=LOGIN_PATH,
    scheme_name="OfficerToken",
    description="An officer's access token from `POST /api/v1/auth/token`.",
    auto_error=False,
)

UNAUTHENTICATED = HTTPException(
    status.HTTP_401_UNAUTHORIZED,
    detail="not logged in, or the session has expired",
    headers={"WWW-Authenticate": "Bearer"},
)


def runtime_of(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


def issue_token(officer: Officer, runtime: Runtime, now: datetime) -> tuple[str, int]:
    """An access token for ``officer`` and its lifetime in seconds."""
    lifetime = timedelta(minutes=runtime.settings.access_token_minutes)
    claims = {
        "sub": str(officer.id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    token = jwt.encode(claims, runtime.crypto.token_key, algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def current_officer(runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]) -> Scope:
    if not token:
        raise UNAUTHENTICATED
    try:
        claims = jwt.decode(
            token,
            runtime.crypto.token_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
        officer_id = int(claims["sub"])
    except (jwt.PyJWTError, ValueError):
        raise UNAUTHENTICATED from None
    with runtime.database.unit() as session:
        found = session.exec(
            select(Officer, Agency.national)
            .join(Agency, Agency.id == Officer.agency_id)  # type: ignore[arg-type]
            .where(Officer.id == officer_id)
        ).first()
    if found is None or not found[0].active:
        raise UNAUTHENTICATED
    officer, national = found
    assert officer.id is not None
    return Scope(
        officer_id=officer.id,
        agency_id=officer.agency_id,
        role=Role(officer.role),
        national=national,
        username=officer.username,
    )


CurrentOfficer = Annotated[Scope, Depends(current_officer)]


def supervisor(caller: CurrentOfficer) -> Scope:
    if caller.role is Role.officer:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="supervisors and admins only")
    return caller


CurrentSupervisor = Annotated[Scope, Depends(supervisor)]
