"""The console's session and CSRF protection.

The session is a signed cookie: a token from :func:`api.security.issue_token` with the audience
``console`` and a lifetime of the idle limit, issued again on every page an officer opens. So a
session ends after ``LAPOR_CONSOLE_IDLE_MINUTES`` without activity; the queue's polling does not
count as activity (a page left open would otherwise never expire). Whatever the activity, it
ends ``LAPOR_CONSOLE_SESSION_HOURS`` after the login. Nothing is stored server-side.

Every form carries a CSRF token: an HMAC, under the token key, of a random value kept in its own
cookie. A forged form cannot read the cookie, and a cookie planted from elsewhere cannot be
paired with a valid token without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from api.runtime import Runtime
from api.security import RuntimeDep, claims_of, issue_token, scope_of
from storage.models import Role, utcnow
from storage.triage import Scope

AUDIENCE = "console"
SESSION_COOKIE = "lapor_console"
CSRF_COOKIE = "lapor_console_csrf"
LANG_COOKIE = "lapor_console_lang"
CSRF_FIELD = "csrf"


class LoggedOut(Exception):
    """No session, or it expired: the officer is sent to the login page."""


class Forbidden(Exception):
    """A form without a valid CSRF token, or a page the officer's role may not open."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def idle_limit(runtime: Runtime) -> timedelta:
    return timedelta(minutes=runtime.settings.console_idle_minutes)


def session_token(
    officer_id: int, runtime: Runtime, now: datetime, *, started: datetime | None = None
) -> str:
    """A session cookie's value: valid for the idle limit from ``now``, for a session that
    began at ``started`` (by default now: a login)."""
    token, _ = issue_token(
        officer_id,
        runtime,
        now,
        lifetime=idle_limit(runtime),
        audience=AUDIENCE,
        started=started or now,
    )
    return token


def set_cookie(
    response: Response, runtime: Runtime, name: str, value: str, *, max_age: int | None = None
) -> None:
    """A console cookie: never read by scripts, never sent from another site, only over HTTPS
    in production. Without ``max_age`` it ends with the browser."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="strict",
        secure=runtime.settings.is_production,
    )


def start_session(response: Response, officer_id: int, runtime: Runtime, now: datetime) -> None:
    set_cookie(response, runtime, SESSION_COOKIE, session_token(officer_id, runtime, now))


def end_session(response: Response, runtime: Runtime) -> None:
    set_cookie(response, runtime, SESSION_COOKIE, "", max_age=0)  # what the browser forgets


def _officer(request: Request, runtime: Runtime, *, renew: bool) -> Scope:
    now = utcnow()
    token = request.cookies.get(SESSION_COOKIE)
    claims = claims_of(token, runtime, audience=AUDIENCE) if token else None
    started = claims.get("auth_time") if claims is not None else None
    # However active, a session ends this long after its login (a copied cookie too).
    oldest = now - timedelta(hours=runtime.settings.console_session_hours)
    if claims is None or not isinstance(started, int) or started < oldest.timestamp():
        raise LoggedOut
    scope = scope_of(int(claims["sub"]), runtime)
    if scope is None:
        raise LoggedOut
    if renew:
        # The console's header middleware puts the fresh cookie on whatever the page answers.
        request.state.renewed_session = session_token(
            scope.officer_id, runtime, now, started=datetime.fromtimestamp(started, UTC)
        )
    return scope


def console_officer(request: Request, runtime: RuntimeDep) -> Scope:
    return _officer(request, runtime, renew=True)


def polling_officer(request: Request, runtime: RuntimeDep) -> Scope:
    return _officer(request, runtime, renew=False)


def console_supervisor(caller: Annotated[Scope, Depends(console_officer)]) -> Scope:
    if caller.role is Role.officer:
        raise Forbidden("error.403.role")
    return caller


def console_admin(caller: Annotated[Scope, Depends(console_officer)]) -> Scope:
    if caller.role is not Role.admin:
        raise Forbidden("error.403.role")
    return caller


ConsoleOfficer = Annotated[Scope, Depends(console_officer)]
PollingOfficer = Annotated[Scope, Depends(polling_officer)]
ConsoleSupervisor = Annotated[Scope, Depends(console_supervisor)]
ConsoleAdmin = Annotated[Scope, Depends(console_admin)]


def _csrf_for(seed: str, runtime: Runtime) -> str:
    return hmac.new(runtime.crypto.token_key, b"csrf\0" + seed.encode(), hashlib.sha256).hexdigest()


def csrf_token(request: Request, runtime: Runtime) -> str:
    """The token for this browser's forms; a browser without a seed gets one with this page."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "new_csrf_seed", None)
    if seed is None:
        seed = secrets.token_urlsafe(32)
        request.state.new_csrf_seed = seed
    return _csrf_for(seed, runtime)


async def check_csrf(request: Request, runtime: RuntimeDep) -> None:
    """Every state-changing request must carry the token of this browser's seed."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    seed = request.cookies.get(CSRF_COOKIE)
    sent = (await request.form()).get(CSRF_FIELD)
    if (
        not seed
        or not isinstance(sent, str)
        or not hmac.compare_digest(sent, _csrf_for(seed, runtime))
    ):
        raise Forbidden("error.403")
