"""Unclaimed critical reports past their SLA are escalated once: audited, counted, posted."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from sqlmodel import select

from api.escalation import escalate, escalations
from storage.models import AuditEvent, Priority, Report
from tests.api.conftest import Desk


@pytest.fixture
def supervisors_webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alert", received
    finally:
        server.shutdown()
        server.server_close()


def test_an_unclaimed_critical_report_past_its_sla_is_escalated_once(
    desk: Desk, supervisors_webhook: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = supervisors_webhook
    desk.agency("PPA-JATENG", regions=("33",))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    late = desk.report(priority=Priority.critical, created_at=an_hour_ago, story="Rahasia sekali.")
    desk.report(priority=Priority.high, created_at=an_hour_ago)  # past SLA, but not critical
    desk.report(priority=Priority.critical)  # critical, still within its 15 minutes
    before = escalations._value.get()

    assert escalate(desk.database, datetime.now(UTC), webhook_url=url) == 1
    assert escalate(desk.database, datetime.now(UTC), webhook_url=url) == 0

    assert escalations._value.get() - before == 1
    assert len(received) == 1
    assert received[0]["report_id"] == late
    assert received[0]["priority"] == "critical"
    assert "Rahasia" not in json.dumps(received[0])
    with desk.database.unit() as session:
        report = session.get(Report, late)
        assert report is not None
        assert report.escalated_at is not None
        actions = session.exec(select(AuditEvent.action).where(AuditEvent.report_id == late)).all()
        assert list(actions) == ["report.escalated"]
    metrics = desk.client.get("/metrics").text
    assert "lapor_escalations_total" in metrics


def test_a_failing_webhook_does_not_undo_the_escalation(desk: Desk) -> None:
    desk.agency("PPA-JATENG", regions=("33",))
    late = desk.report(
        priority=Priority.critical, created_at=datetime.now(UTC) - timedelta(hours=1)
    )
    dead = "http://127.0.0.1:9/nobody-listens"
    assert escalate(desk.database, datetime.now(UTC), webhook_url=dead, timeout=1) == 1
    with desk.database.unit() as session:
        report = session.get(Report, late)
        assert report is not None
        assert report.escalated_at is not None


def test_a_claimed_critical_report_is_not_escalated(desk: Desk) -> None:
    agency = desk.agency("PPA-JATENG", regions=("33",))
    desk.officer("sari", agency)
    late = desk.report(
        priority=Priority.critical, created_at=datetime.now(UTC) - timedelta(hours=1)
    )
    desk.client.post(f"/api/v1/reports/{late}/claim", headers=desk.login("sari"))
    assert escalate(desk.database, datetime.now(UTC), webhook_url=None) == 0
