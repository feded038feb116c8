from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from api.logs import JsonFormatter
from api.main import create_app
from storage import outbox
from storage.crypto import Keys
from storage.db import Database
from storage.models import Channel
from tests.api.conftest import make_settings

CANARY = "CANARY-081234567890-siti@example.org"


def test_healthz_answers_ok(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_when_the_database_does(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "warnings": []}


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path: Path, keys: Keys) -> None:
    unreachable = f"postgresql+psycopg://nobody@/lapor?host={tmp_path}/no-such-socket-dir"
    database = Database(unreachable)
    app = create_app(make_settings(tmp_path, keys, database_url=unreachable), database=database)
    with TestClient(app) as client:
        response = client.get("/readyz")
        metrics = client.get("/metrics")
    assert response.status_code == 503
    assert response.json() == {"detail": "database unavailable"}
    assert client.get("/healthz").status_code == 200
    # The process's own counters still go out; what only the database knows is left out.
    assert metrics.status_code == 200
    assert "lapor_turns_total" in metrics.text
    assert "lapor_outbox_due" not in metrics.text


def test_metrics_are_prometheus_text_with_the_contract_names(client: TestClient) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in (
        'lapor_inbound_messages_total{channel="whatsapp"}',
        'lapor_turns_total{channel="telegram"}',
        "lapor_reports_submitted_total",
        'lapor_outbound_messages_total{channel="whatsapp",kind="message",result="sent"}',
    ):
        assert name in response.text


def test_metrics_say_what_waits_for_the_senders(client: TestClient, database: Database) -> None:
    """An operator sees whether the senders keep up: messages due and not yet taken, per
    channel, and how long the oldest has waited; a message not due yet is not counted."""
    now = datetime.now(UTC)
    with database.unit() as session:
        for minutes in (3, 1):
            outbox.enqueue(
                Channel.telegram,
                "k" * 64,
                b"a",
                b"p",
                now - timedelta(minutes=minutes),
                session=session,
            )
        later = outbox.enqueue(Channel.whatsapp, "w" * 64, b"a", b"p", now, session=session)
        later.next_attempt_at = now + timedelta(hours=1)  # a retry, later
        session.add(later)
    text = client.get("/metrics").text
    values = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("lapor_outbox_")
    }
    assert values['lapor_outbox_due{channel="telegram"}'] == 2
    assert values['lapor_outbox_due{channel="whatsapp"}'] == 0
    assert 180 <= values['lapor_outbox_oldest_due_seconds{channel="telegram"}'] < 180 + 60
    assert values['lapor_outbox_oldest_due_seconds{channel="whatsapp"}'] == 0


def test_unknown_route_and_wrong_method_answer_json(client: TestClient) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = client.delete("/healthz")
    assert wrong.status_code == 405
    assert "detail" in wrong.json()
    assert wrong.headers["allow"] == "GET"


def test_a_path_served_by_two_routes_allows_both_methods(client: TestClient) -> None:
    wrong = client.options("/webhooks/whatsapp")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, POST"


def test_a_body_that_cannot_be_decoded_is_a_422_like_any_bad_json(client: TestClient) -> None:
    for body in (b"\xd2\xb7\x18*\xff", b"{not json"):
        response = client.post(
            "/api/v1/reports/x/notes",
            content=body,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, body
        assert response.json()["detail"][0]["type"] == "json_invalid"


def test_a_declared_body_over_one_mebibyte_is_refused(client: TestClient) -> None:
    response = client.post("/healthz", content=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert response.json() == {"detail": "request body larger than 1048576 bytes"}


def _app_with_probe_routes(app: FastAPI) -> FastAPI:
    @app.post("/test/body-size")
    async def body_size(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.get("/test/crash")
    def crash() -> None:
        raise RuntimeError(f"boom with {CANARY}")

    return app


def test_a_streamed_body_over_the_limit_is_refused(app: FastAPI) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(17):
            yield b"y" * 65536

    with TestClient(_app_with_probe_routes(app)) as client:
        small = client.post("/test/body-size", content=b"z" * 1000)
        assert small.json() == {"size": 1000}
        big = client.post("/test/body-size", content=chunks())
    assert big.status_code == 413
    assert big.json()["detail"].startswith("request body larger than")


def test_an_internal_error_answers_json_without_a_trace_and_logs_no_data(app: FastAPI) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.INFO)
    try:
        with TestClient(_app_with_probe_routes(app), raise_server_exceptions=False) as client:
            response = client.get(f"/test/crash?q={CANARY}")
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)
    assert response.status_code == 500
    body = response.json()
    assert body["detail"] == "internal error"
    assert CANARY not in response.text
    assert "Traceback" not in response.text
    logged = stream.getvalue()
    assert CANARY not in logged
    entries = [json.loads(line) for line in logged.splitlines()]
    error = next(entry for entry in entries if entry.get("event") == "unhandled_error")
    assert error["error_type"] == "builtins.RuntimeError"
    assert error["error_id"] == body["error_id"]
    request = next(entry for entry in entries if entry.get("event") == "request")
    assert request["route"] == "/test/crash"
    assert request["status"] == 500


def test_validation_errors_do_not_echo_the_input(app: FastAPI) -> None:
    @app.get("/test/number")
    def number(value: int) -> dict[str, int]:
        return {"value": value}

    with TestClient(app) as client:
        response = client.get("/test/number", params={"value": CANARY})
    assert response.status_code == 422
    assert CANARY not in response.text
    assert response.json()["detail"][0]["loc"] == ["query", "value"]


def test_the_formatter_drops_fields_it_does_not_know() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "turn", None, None)
    record.event = "turn"
    record.text = CANARY
    record.chat_id = 123456789
    line = JsonFormatter().format(record)
    assert CANARY not in line
    assert "123456789" not in line
    assert json.loads(line)["event"] == "turn"


def test_third_party_messages_with_arguments_are_not_written() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "got %s", (CANARY,), None)
    assert CANARY not in JsonFormatter().format(record)


def test_a_database_that_is_away_answers_503_with_retry_after_not_500(
    tmp_path: Path, keys: Keys
) -> None:
    missing = tmp_path / "no-such-dir" / "lapor.db"
    settings = make_settings(tmp_path, keys, database_url=f"sqlite:///{missing}")
    app = create_app(settings, database=Database(f"sqlite:///{missing}"))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/auth/token", data={"username": "sari", "password": "x" * 12}
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"detail": "the database is busy or unavailable; try again shortly"}
