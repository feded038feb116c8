"""Officers log in with the OAuth2 password form and get a short-lived bearer token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.security import OAuth2PasswordRequestForm

from api.errors import Refused
from api.runtime import Runtime
from api.schemas import Token, errors
from api.security import RuntimeDep, issue_token
from storage.models import Officer
from storage.officers import LoginLimit, log_in

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/token",
    summary="Log in: username and password for an access token",
    responses=errors(401, 422),
)
def token(form: Annotated[OAuth2PasswordRequestForm, Depends()], runtime: RuntimeDep) -> Token:
    now = datetime.now(UTC)
    officer = check_password(form.username, form.password, runtime, now)
    if officer is None:
        # One answer for a wrong password, an unknown user and a locked account.
        raise Refused(401, "wrong username or password")
    access_token, lifetime = issue_token(officer.id, runtime, now)
    return Token(access_token=access_token, expires_in=lifetime)


def check_password(username: str, password: str, runtime: Runtime, now: datetime) -> Officer | None:
    """The officer, if the password is right and the username not locked (the API's and the
    console's one way in); every attempt is counted and audited."""
    settings = runtime.settings
    limit = LoginLimit(
        failures=settings.login_failures, window=timedelta(minutes=settings.login_window_minutes)
    )
    with runtime.database.unit() as session:
        return log_in(username, password, now, limit, session=session)
