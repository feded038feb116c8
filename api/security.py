"""Officer access: short-lived HS256 tokens (PyJWT) and the ``CurrentOfficer`` dependency.

A token names the officer by id only. Every request loads the officer again, so a deactivated
account or a changed role takes effect at once, not when the token expires.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

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


async def _runtime(request: Request) -> Runtime:
    # A coroutine, though it awaits nothing: FastAPI runs a plain function dependency in its
    # thread pool, a hop to another thread and back on every request (the webhooks' too).
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(_runtime)]


def issue_token(
    officer_id: int | None,
    runtime: Runtime,
    now: datetime,
    *,
    lifetime: timedelta | None = None,
    audience: str | None = None,
    started: datetime | None = None,
) -> tuple[str, int]:
    """A token for the officer and its lifetime in seconds (by default an API access token).

    The console's session cookie is a token with ``audience`` ``console``: PyJWT refuses a token
    with an audience where none is expected and vice versa, so neither kind opens the other door.
    ``started`` (the ``auth_time`` claim) is when the officer logged in, kept across renewals.
    """
    lifetime = lifetime or timedelta(minutes=runtime.settings.access_token_minutes)
    claims: dict[str, str | int] = {
        "sub": str(officer_id),
        "iss": ISSUER,
        "iat": int(now.timestamp()),
        "exp": int((now + lifetime).timestamp()),
    }
    if audience is not None:
        claims["aud"] = audience
    if started is not None:
        claims["auth_time"] = int(started.timestamp())
    token = jwt.encode(claims, runtime.crypto.token_key, algorithm=ALGORITHM)
    return token, int(lifetime.total_seconds())


def claims_of(
    token: str, runtime: Runtime, *, audience: str | None = None
) -> dict[str, Any] | None:
    """The claims of a valid, unexpired token naming an officer by id; None for anything else."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            runtime.crypto.token_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=audience,
            options={"require": ["sub", "exp", "iat", "iss"]},
        )
    except jwt.PyJWTError:
        return None
    return claims if str(claims["sub"]).isdecimal() else None


def officer_of_token(token: str, runtime: Runtime, *, audience: str | None = None) -> Scope | None:
    """The active officer a valid, unexpired token names; None for anything else."""
    claims = claims_of(token, runtime, audience=audience)
    return scope_of(int(claims["sub"]), runtime) if claims is not None else None


def scope_of(officer_id: int, runtime: Runtime) -> Scope | None:
    """What the officer may see, loaded afresh (a deactivated account counts at once). Read
    without waiting for the writer: every request of an officer asks it."""
    with runtime.database.read() as session:
        found = session.exec(
            select(Officer, Agency.national)
            .join(Agency, Agency.id == Officer.agency_id)  # type: ignore[arg-type]
            .where(Officer.id == officer_id)
        ).first()
    if found is None or not found[0].active:
        return None
    officer, national = found
    assert officer.id is not None
    return Scope(
        officer_id=officer.id,
        agency_id=officer.agency_id,
        role=Role(officer.role),
        national=national,
        username=officer.username,
    )


def current_officer(runtime: RuntimeDep, token: Annotated[str | None, Depends(_bearer)]) -> Scope:
    scope = officer_of_token(token, runtime) if token else None
    if scope is None:
        raise UNAUTHENTICATED
    return scope


CurrentOfficer = Annotated[Scope, Depends(current_officer)]


def supervisor(caller: CurrentOfficer) -> Scope:
    if caller.role is Role.officer:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="supervisors and admins only")
    return caller


CurrentSupervisor = Annotated[Scope, Depends(supervisor)]
