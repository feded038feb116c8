"""The console as its own small application, mounted at ``/console`` by the app factory.

Its own application so that everything under ``/console`` answers in HTML (a calm page, never
JSON or a trace) and carries the same security headers, errors included.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.responses import RedirectResponse, Response

from api.console import pages
from api.console.rendering import HERE, error_page
from api.console.session import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    Forbidden,
    LoggedOut,
    end_session,
    set_cookie,
)
from api.console.words import LANGUAGES
from api.errors import Refused
from api.middleware import log_unhandled
from api.runtime import Runtime
from api.security import runtime_of

# No inline script or style anywhere: htmx is told not to add its indicator styles (see base.html).
CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    # Reports on a shared office computer should not come back from the browser's cache.
    "Cache-Control": "no-store",
}
LANG_DAYS = 365


class ConsoleHeaders(BaseHTTPMiddleware):
    """Security headers on every answer, the cookies a page asked for, and a calm page (with the
    error logged by an id) instead of a trace."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        # Before the call: routing inside rewrites the scope's root path.
        static = request.url.path.startswith(f"{request.scope.get('root_path', '')}/static/")
        try:
            response = await call_next(request)
        except Exception:
            log_unhandled()
            response = error_page(request, 500, "error.500")
        runtime = runtime_of(request)
        if static:
            # The style sheet and htmx hold nothing private: kept, but checked (ETag) each time.
            response.headers.setdefault("Cache-Control", "no-cache")
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        renewed = getattr(request.state, "renewed_session", None)
        if renewed is not None:  # (logging out clears it)
            set_cookie(response, runtime, SESSION_COOKIE, renewed)
        seed = getattr(request.state, "new_csrf_seed", None)
        if seed is not None:
            set_cookie(response, runtime, CSRF_COOKIE, seed)
        lang = request.query_params.get("lang")
        if lang in LANGUAGES:
            set_cookie(response, runtime, LANG_COOKIE, lang, max_age=LANG_DAYS * 24 * 3600)
        return response


async def _logged_out(request: Request, _exc: Exception) -> Response:
    login = f"{request.scope.get('root_path', '')}/login?expired=1"
    if request.headers.get("HX-Request"):
        # A polled fragment cannot redirect the page itself; htmx does it on this header.
        response: Response = Response(status_code=204, headers={"HX-Redirect": login})
    else:
        response = RedirectResponse(login, status_code=303)
    end_session(response, runtime_of(request))
    return response


async def _forbidden(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Forbidden)
    return error_page(request, 403, exc.reason)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    # Only "not found" reaches here (the pages turn other refusals into a message on the page).
    return error_page(request, 404 if exc.status_code == 404 else 409, "error.404")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_page(request, 404, "error.404")
    return error_page(request, exc.status_code, "error.500")


async def _invalid(request: Request, _exc: Exception) -> Response:
    # Forms are checked by the pages themselves, so this is a hand-made URL with a malformed id
    # or filter: there is nothing to find.
    return error_page(request, 404, "error.404")


async def _database_unavailable(request: Request, _exc: Exception) -> Response:
    response = error_page(request, 503, "error.503")
    response.headers["Retry-After"] = "2"
    return response


def create_console(runtime: Runtime) -> FastAPI:
    console = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    console.state.runtime = runtime
    console.add_middleware(ConsoleHeaders)
    console.add_exception_handler(LoggedOut, _logged_out)
    console.add_exception_handler(Forbidden, _forbidden)
    console.add_exception_handler(Refused, _refused)
    console.add_exception_handler(HTTPException, _http_error)
    console.add_exception_handler(RequestValidationError, _invalid)
    console.add_exception_handler(OperationalError, _database_unavailable)
    console.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    console.include_router(pages.router)
    return console
