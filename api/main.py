"""The application factory: ``uvicorn --factory api.main:create_app`` or ``lapor serve``."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.exceptions import HTTPException
from starlette.routing import Match
from telegram import Bot, Update
from telegram.ext import Application, TypeHandler

import bot.metrics  # noqa: F401  (registers the counters before the first scrape)
from api.console.app import create_console
from api.errors import Refused, refused
from api.logs import configure_logging
from api.middleware import GuardMiddleware
from api.routes import (
    audit,
    auth,
    cases,
    exports,
    health,
    me,
    referrals,
    reports,
    stats,
    webhooks,
)
from api.routes.webhooks import take_telegram_event
from api.runtime import (
    Runtime,
    build_runtime,
    officer_telegram_bot,
    telegram_bot,
    unrouted_warning,
)
from api.settings import Settings, TelegramMode
from bot.telegram import event_of
from storage.db import Database

log = logging.getLogger("lapor.app")

API_PREFIX = "/api/v1"
CONSOLE_PREFIX = "/console"
# New objects that make the garbage collector's youngest generation run (see the lifespan).
YOUNG_OBJECTS = 10_000


@contextmanager
def collector_tuned() -> Iterator[None]:
    """The garbage collector as a long-running server wants it, until the block ends.

    What start-up built (modules, the app, the flows: some 200,000 objects) lives as long as the
    process, yet every full pass of the collector walked all of it: a pause of 150-500 ms every
    hundred or so requests, the console queue's p99 in bench/triage_bench.py. Frozen, the
    collector leaves it alone (start-up leaves only a few dozen objects of garbage to be frozen
    with it). And a page or a turn holds a few thousand objects at once, nearly all freed by
    their last reference: at the default threshold (700) the collector ran several times a
    request and moved them on to the older generations, so a full pass still came every 30 or
    so requests."""
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(YOUNG_OBJECTS, *thresholds[1:])
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


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
        for worker in (runtime.fetcher, runtime.alerts):
            if worker is not None:
                tasks.append(asyncio.create_task(_work_forever(runtime, worker.run_once)))
        sending = _start_sender(runtime)
        pollers = [p for p in (_telegram_polling(runtime), _officer_polling(runtime)) if p]
        for polling in pollers:
            await _start_polling(polling)
        try:
            with collector_tuned():  # (undone at the end: tests start many apps in one process)
                yield
        finally:
            for polling in pollers:
                await _stop_polling(polling)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if sending is not None:
                await asyncio.to_thread(_stop_sender, runtime, *sending)
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
    for module in (auth, reports, referrals, cases, exports, stats, audit, me):
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
    return _polling_application(
        telegram_bot(settings), lambda update: take_telegram_event(runtime, event_of(update))
    )


def _officer_polling(runtime: Runtime) -> Application[Any, Any, Any, Any, Any, Any] | None:
    """The officers' bot in polling mode: its updates go where its webhook's go."""
    officer_bot = runtime.officer_bot
    if officer_bot is None or runtime.settings.officer_telegram_mode is not TelegramMode.polling:
        return None
    return _polling_application(officer_telegram_bot(runtime.settings), officer_bot.take)


def _polling_application(
    bot: Bot, take: Callable[[Update], None]
) -> Application[Any, Any, Any, Any, Any, Any]:
    application = Application.builder().bot(bot).build()

    async def handle(update: object, _context: object) -> None:
        if isinstance(update, Update):
            await asyncio.to_thread(take, update)

    application.add_handler(TypeHandler(Update, handle))
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


def _start_sender(runtime: Runtime) -> tuple[threading.Thread, threading.Event] | None:
    """The outbox sender on a thread of its own (it waits for a turn's wake-up, not a poll)."""
    if runtime.sender is None:
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=runtime.sender.run_forever, args=(stop,), name="lapor-sender", daemon=True
    )
    thread.start()
    return thread, stop


def _stop_sender(runtime: Runtime, thread: threading.Thread, stop: threading.Event) -> None:
    assert runtime.sender is not None
    stop.set()
    runtime.sender.wake()
    thread.join(10)
    runtime.sender.stop()


async def _work_forever(runtime: Runtime, run_once: Callable[[], int]) -> None:
    """The evidence fetcher's rounds, back to back while there is work."""
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


# FastAPI's answer to a body it could not even decode (bytes that are not UTF-8, say).
UNPARSABLE_BODY = "There was an error parsing the body"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == UNPARSABLE_BODY:
        # The same answer as for a body that is not JSON: a 422 every route documents.
        problem = {"loc": ["body"], "msg": "the body is not valid JSON", "type": "json_invalid"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; a path served by several
        # routes (GET and POST /webhooks/whatsapp) allows all of theirs.
        headers["Allow"] = ", ".join(_allowed_methods(request))
    return JSONResponse(
        {"detail": exc.detail}, status_code=exc.status_code, headers=headers or None
    )


def _allowed_methods(request: Request) -> list[str]:
    def served(method: str) -> bool:
        scope = {**request.scope, "method": method}
        return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)

    return [method for method in HTTP_METHODS if served(method)]


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
