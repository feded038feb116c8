"""The application factory: ``uvicorn --factory api.main:create_app`` or ``lapor serve``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException
from telegram import Update
from telegram.ext import Application, TypeHandler

import bot.metrics  # noqa: F401  (registers the counters before the first scrape)
from api.console.app import create_console
from api.errors import Refused, refused
from api.logs import configure_logging
from api.middleware import GuardMiddleware
from api.routes import audit, auth, cases, exports, health, reports, stats, webhooks
from api.routes.webhooks import take_telegram_event
from api.runtime import Runtime, build_runtime, telegram_bot, unrouted_warning
from api.settings import Settings, TelegramMode
from bot.telegram import event_of
from storage.db import Database

log = logging.getLogger("lapor.app")

API_PREFIX = "/api/v1"
CONSOLE_PREFIX = "/console"


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    settings = settings or Settings()
    if database is None:
        configure_logging(settings.log_level)
    runtime = build_runtime(settings, database=database)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log.info("started", extra={"event": "started", "backend": runtime.database.backend})
        await asyncio.to_thread(_warn_unrouted, runtime)
        sweep = settings.sweep_seconds
        tasks = [
            asyncio.create_task(_every(runtime.sweep, "sweep", sweep, sweep)),
            # Retention in every process: a purge that finds nothing due costs a few counts.
            asyncio.create_task(_every(runtime.purge, "purge", sweep, settings.purge_hours * 3600)),
        ]
        for worker in (runtime.sender, runtime.fetcher):
            if worker is not None:
                tasks.append(asyncio.create_task(_work_forever(runtime, worker.run_once)))
        polling = _telegram_polling(runtime)
        if polling is not None:
            await _start_polling(polling)
        try:
            yield
        finally:
            if polling is not None:
                await _stop_polling(polling)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            runtime.database.dispose()
            log.info("stopped", extra={"event": "stopped"})

    app = FastAPI(
        title="Lapor Aman",
        version="0.1.0",
        summary="Anonymous reporting of violence against women and children: triage API.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.database = runtime.database
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_middleware(GuardMiddleware, max_body_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(webhooks.router)
    for module in (auth, reports, cases, exports, stats, audit):
        app.include_router(module.router, prefix=API_PREFIX)
    app.mount(CONSOLE_PREFIX, create_console(runtime))
    return app


def _warn_unrouted(runtime: Runtime) -> None:
    try:
        warning = unrouted_warning(runtime.database)
    except SQLAlchemyError:
        # Start anyway: /readyz says 503 until the database answers.
        log.warning("database unavailable at start", extra={"event": "database_unavailable"})
        return
    if warning:
        log.warning(warning, extra={"event": "unrouted_reports"})


def _telegram_polling(runtime: Runtime) -> Application[Any, Any, Any, Any, Any, Any] | None:
    """In polling mode, a PTB Application that only fetches updates; every update goes through
    the same path as a webhook delivery (recorded, acknowledged, processed once)."""
    settings = runtime.settings
    if not settings.telegram_enabled or settings.telegram_mode is not TelegramMode.polling:
        return None
    application = Application.builder().bot(telegram_bot(settings)).build()

    async def take(update: object, _context: object) -> None:
        if isinstance(update, Update):
            await asyncio.to_thread(take_telegram_event, runtime, event_of(update))

    application.add_handler(TypeHandler(Update, take))
    return application


async def _start_polling(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(allowed_updates=Update.ALL_TYPES)


async def _stop_polling(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    assert application.updater is not None
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def _work_forever(runtime: Runtime, run_once: Callable[[], int]) -> None:
    """The outbox sender's or the evidence fetcher's rounds, back to back while there is work."""
    while True:
        try:
            tried = await asyncio.to_thread(run_once)
        except Exception:
            # The database is away, most likely: nothing is lost, try again in a while.
            log.exception("work round failed", extra={"event": "work_round_failed"})
            await asyncio.sleep(max(5.0, runtime.settings.send_poll_seconds))
            continue
        if not tried:
            await asyncio.sleep(runtime.settings.send_poll_seconds)


async def _every(job: Callable[[], object], name: str, first: float, interval: float) -> None:
    """``job`` in a worker thread, ``first`` seconds after start and then every ``interval``; a
    failure (the database away, most likely) is logged and the next round comes as planned."""
    await asyncio.sleep(first)
    while True:
        try:
            await asyncio.to_thread(job)
        except Exception:
            log.exception(f"{name} failed", extra={"event": f"{name}_failed"})
        await asyncio.sleep(interval)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers or None
    )


async def _database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
    # Busy (SQLite's lock under load) or away: a moment later it may answer, and the platforms
    # retry a webhook that got a 503, so nothing is lost.
    log.warning(
        "database unavailable",
        extra={"event": "database_unavailable", "error_type": type(exc).__name__},
    )
    return JSONResponse(
        {"detail": "the database is busy or unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "2"},
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    # Say where and what kind of problem, without echoing the submitted values back.
    errors: list[dict[str, Any]] = [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg"), "type": error.get("type")}
        for error in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)
