"""Unclaimed critical reports past their SLA are escalated: once each, audited, counted, and (if
``LAPOR_SUPERVISOR_WEBHOOK_URL`` is set) posted to the supervisors' webhook. The post carries ids
and codes only, never the story."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

import httpx
from prometheus_client import Counter

from storage import alerts, audit, triage
from storage.db import Database

log = logging.getLogger("lapor.escalation")

escalations = Counter(
    "lapor_escalations", "Critical reports escalated because nobody claimed them within the SLA"
)


def escalate(
    database: Database, now: datetime, *, webhook_url: str | None, timeout: float = 5.0
) -> int:
    with database.unit() as session:
        overdue = triage.escalate_overdue(now, session=session)
        alerts: list[dict[str, Any]] = []
        for report in overdue:
            audit.record(
                "report.escalated",
                now,
                report_id=report.id,
                detail={"priority": str(report.priority), "agency_id": report.agency_id},
                session=session,
            )
            alerts.append(
                {
                    "event": "report.escalated",
                    "report_id": report.id,
                    "reference": report.reference,
                    "priority": str(report.priority),
                    "agency_id": report.agency_id,
                    "sla_due_at": report.sla_due_at.isoformat() if report.sla_due_at else None,
                }
            )
    for alert in alerts:
        escalations.inc()
        log.warning("report escalated", extra={"event": "report_escalated"})
        if webhook_url:
            _post(webhook_url, alert, timeout)
    return len(alerts)


def remind_half_sla(database: Database, now: datetime, critical_sla: timedelta) -> int:
    """Critical reports nobody claimed by half their SLA: an alert to the on-duty officers again
    and to the supervisors, queued in the transaction that found them."""
    with database.unit() as session:
        queued = alerts.queue_half_sla_alerts(now, critical_sla / 2, session=session)
    if queued:
        log.info("half-SLA reminders queued", extra={"event": "half_sla_alerts", "count": queued})
    return queued


def _post(url: str, alert: dict[str, Any], timeout: float) -> None:
    try:
        response = httpx.post(url, json=alert, timeout=timeout)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        # The escalation is recorded and counted either way; the webhook is a courtesy.
        log.warning(
            "escalation webhook failed",
            extra={"event": "escalation_webhook_failed", "error_type": type(exc).__name__},
        )
