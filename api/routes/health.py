"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from api.runtime import unrouted_warning
from storage import outbox
from storage.db import Database
from storage.models import Channel, utcnow

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The database answers",
    responses={503: {"description": "The database does not answer"}},
)
def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.database
    if not database.ping():
        return JSONResponse({"detail": "database unavailable"}, status_code=503)
    try:
        # Ready, but an admin should know: reports that no agency can see.
        warning = unrouted_warning(database)
    except SQLAlchemyError:
        return JSONResponse({"detail": "database not migrated: run `lapor db upgrade`"}, 503)
    return JSONResponse({"status": "ready", "warnings": [warning] if warning else []})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(request: Request) -> Response:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: add up what each wrote to the shared directory.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    waiting = CollectorRegistry()
    waiting.register(OutboxBacklog(request.app.state.database))
    body = generate_latest(registry) + generate_latest(waiting)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class OutboxBacklog(Collector):
    """Whether the senders keep up, read from the database at each scrape (the same for every
    process of a deployment): messages to reporters due and not yet taken, per channel, and how
    long the oldest has waited. Left out while the database does not answer (``/readyz``)."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        try:
            with self.database.read() as session:
                waiting = {row.channel: row for row in outbox.backlog(now, session=session)}
        except (SQLAlchemyError, OSError):  # (OSError: an SQLite file that cannot be opened)
            return
        due = GaugeMetricFamily(
            "lapor_outbox_due",
            "Messages to reporters due to go and not yet taken by a sender",
            labels=["channel"],
        )
        oldest = GaugeMetricFamily(
            "lapor_outbox_oldest_due_seconds",
            "How long the oldest message due to a reporter has waited for a sender",
            labels=["channel"],
        )
        for channel in (Channel.telegram, Channel.whatsapp):
            row = waiting.get(channel)
            due.add_metric([channel.value], row.due if row else 0)
            waited = (now - row.oldest).total_seconds() if row else 0.0
            oldest.add_metric([channel.value], max(0.0, waited))
        yield due
        yield oldest
