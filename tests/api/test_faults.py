"""Faults around intake: the database going away and coming back, the Graph API down."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import select

from storage.crypto import Keys
from storage.db import Database
from storage.models import Inbound, OutboxMessage, OutboxStatus
from tests.api.test_whatsapp_webhook import WA_ID, envelope, signed, whatsapp_app
from tests.pgserver import PostgresServer


def delivery(number: int) -> tuple[bytes, dict[str, str]]:
    message = {"from": WA_ID, "id": f"wamid.fault.{number}", "timestamp": "1767225600"}
    return signed(envelope({**message, "type": "text", "text": {"body": "halo"}}))


def test_an_outage_of_postgresql_answers_503_and_intake_resumes_when_it_returns(
    tmp_path: Path, keys: Keys, private_postgres: PostgresServer
) -> None:
    database = Database(private_postgres.url)
    # The Graph API is unreachable throughout (nothing listens on port 9): intake goes on anyway.
    app = whatsapp_app(tmp_path, keys, database)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            first, second = delivery(1), delivery(2)
            assert (
                client.post("/webhooks/whatsapp", content=first[0], headers=first[1]).status_code
                == 200
            )

            private_postgres.halt()
            refused = client.post("/webhooks/whatsapp", content=second[0], headers=second[1])
            assert refused.status_code == 503  # the platform will deliver it again
            assert refused.headers["retry-after"] == "2"
            assert "Traceback" not in refused.text
            assert client.get("/readyz").status_code == 503
            assert client.get("/healthz").status_code == 200

            private_postgres.resume()
            assert client.get("/readyz").status_code == 200
            retried = client.post("/webhooks/whatsapp", content=second[0], headers=second[1])
            assert retried.status_code == 200
            again = client.post("/webhooks/whatsapp", content=second[0], headers=second[1])
            assert again.status_code == 200
        with database.unit() as session:
            assert len(session.exec(select(Inbound)).all()) == 2
            replies = session.exec(select(OutboxMessage)).all()
        # One welcome a delivery, each waiting for the Graph API to come back.
        assert len(replies) == 2
        assert {reply.status for reply in replies} == {OutboxStatus.pending}
    finally:
        database.dispose()
