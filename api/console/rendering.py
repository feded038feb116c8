"""Pages in the officer's language, with what every template needs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from api.console.session import LANG_COOKIE, csrf_token
from api.console.words import LANGUAGES, Words
from api.security import runtime_of
from storage import officer_contacts
from storage.triage import Scope

HERE = Path(__file__).parent
# Starlette turns autoescaping on for these templates.
templates = Jinja2Templates(directory=HERE / "templates")


def words_for(request: Request) -> Words:
    runtime = runtime_of(request)
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    lang = asked if asked in LANGUAGES else runtime.settings.default_locale.value
    return Words(lang, runtime.inbox.flows)


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    officer: Scope | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    words = words_for(request)

    def on_duty() -> bool:
        # Asked by the header only (a polled fragment never pays for it).
        if officer is None:
            return False
        with runtime.database.read() as session:
            contact = officer_contacts.contact_of(officer.officer_id, session=session)
        return contact is not None and contact.on_duty

    values = {
        "t": words,
        "lang": words.lang,
        "root": request.scope.get("root_path", ""),
        "csrf": csrf_token(request, runtime),
        "officer": officer,
        "path": request.url.path,
        "on_duty": on_duty,
        **(context or {}),
    }
    response: Response = templates.TemplateResponse(
        request, template, values, status_code=status_code
    )
    return response


def error_page(request: Request, status_code: int, key: str) -> Response:
    return render(request, "error.html", {"message_key": key}, status_code=status_code)
