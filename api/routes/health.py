"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.exc import SQLAlchemyError

from api.runtime import unrouted_warning
from storage.db import Database

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
def metrics() -> Response:
    registry = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several worker processes: add up what each wrote to the shared directory.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
