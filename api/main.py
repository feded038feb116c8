"""The application factory: ``uvicorn --factory api.main:create_app`` or ``lapor serve``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import bot.metrics  # noqa: F401  (registers the counters before the first scrape)
from api.logs import configure_logging
from api.middleware import GuardMiddleware
from api.routes import health
from api.settings import Settings, load_keys
from storage.crypto import Crypto
from storage.db import Database

log = logging.getLogger("lapor.app")


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    if database is None:
        configure_logging(settings.log_level)
    crypto = Crypto.from_keys(load_keys(settings))
    database = database or Database(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("started", extra={"event": "started", "backend": database.backend})
        try:
            yield
        finally:
            database.dispose()
            log.info("stopped", extra={"event": "stopped"})

    app = FastAPI(
        title="Lapor Aman",
        version="0.1.0",
        summary="Anonymous reporting of violence against women and children: triage API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = database
    app.state.crypto = crypto
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    return app


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Say where and what kind of problem, without echoing the submitted values back.
    errors: list[dict[str, Any]] = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)
