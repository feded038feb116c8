"""The WhatsApp webhook over HTTP, with payloads signed as Meta signs them (PROTOCOLS §1.2)."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.main import create_app
from bot.inbox import Inbox
from bot.messages import OutboundMessage
from bot.whatsapp import signature_ok
from flows.types import InputKind, UserInput
from storage.agencies import create_agency
from storage.crypto import Keys
from storage.db import Database
from storage.models import Channel, Inbound, OutboxMessage, OutboxStatus, Report
from tests.api.conftest import make_settings
from tests.fakes import FakeGraph, serve
from tests.support import Phone, wait_until_sent

APP_SECRET = "test_app_secret"
VERIFY_TOKEN = "meatyhamhock"
WA_ID = "6281234567890"
PROFILE_NAME = "Siti Canary"


def whatsapp_settings(graph: str) -> dict[str, Any]:
    """WhatsApp on, sending to the Graph API at ``graph``."""
    return {
        "whatsapp_app_secret": APP_SECRET,
        "whatsapp_verify_token": VERIFY_TOKEN,
        "whatsapp_access_token": "graph-token",
        "whatsapp_phone_number_id": "100000000000001",
        "whatsapp_api_url": graph,
        "send_poll_seconds": 0.05,
    }


def whatsapp_app(
    tmp_path: Path, keys: Keys, database: Database, graph: str = "http://127.0.0.1:9/v23.0"
) -> FastAPI:
    """The app with WhatsApp on; replies go to ``graph`` (by default nowhere)."""
    database_url = database.url.render_as_string(False)
    settings = make_settings(tmp_path, keys, database_url=database_url, **whatsapp_settings(graph))
    return create_app(settings, database=database)


@pytest.fixture
def wa_app(tmp_path: Path, keys: Keys, database: Database) -> FastAPI:
    return whatsapp_app(tmp_path, keys, database)


@pytest.fixture
def wa(wa_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(wa_app, raise_server_exceptions=False) as client:
        yield client


def signed(payload: Any, secret: str = APP_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload).encode()  # ensure_ascii, as Meta sends it
    digest = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def envelope(
    *messages: dict[str, Any], statuses: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "6280000000000", "phone_number_id": "100000000000001"},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": PROFILE_NAME}, "wa_id": WA_ID}]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "200000000000002", "changes": [{"field": "messages", "value": value}]}],
    }


class WhatsAppPhone(Phone):
    """A reporter on WhatsApp: every message is a signed webhook POST."""

    channel = Channel.whatsapp

    def __init__(self, inbox: Inbox, client: TestClient, wa_id: str = WA_ID) -> None:
        super().__init__(inbox, wa_id)
        self.client = client

    def post(self, message: dict[str, Any]) -> int:
        raw, headers = signed(envelope(message))
        response = self.client.post("/webhooks/whatsapp", content=raw, headers=headers)
        return int(response.status_code)

    def wamid(self) -> str:
        self.sent += 1
        return f"wamid.{self.identity}.{self.sent:04d}"

    def type(self, text: str) -> bool:
        body = {"from": self.identity, "id": self.wamid(), "timestamp": "1767225600"}
        return self.post({**body, "type": "text", "text": {"body": text}}) == 200

    def press(self, choice: str) -> bool:
        body = {"from": self.identity, "id": self.wamid(), "timestamp": "1767225600"}
        tap = {"type": "button_reply", "button_reply": {"id": choice, "title": "x"}}
        return self.post({**body, "type": "interactive", "interactive": tap}) == 200


class GraphPhone(WhatsAppPhone):
    """Reads what the reporter got from the fake Graph API, once the sender delivered it all.
    Each message it sends opens the reporter's 24-hour window at the fake too, as through Meta."""

    def __init__(self, inbox: Inbox, client: TestClient, graph: FakeGraph) -> None:
        super().__init__(inbox, client)
        self.graph = graph

    def post(self, message: dict[str, Any]) -> int:
        self.graph.wrote(self.identity)
        return super().post(message)

    def outbox(self) -> list[OutboundMessage]:
        wait_until_sent(self.inbox.database)
        return [OutboundMessage(text) for text in self.graph.texts()]


def rows(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_the_handshake_echoes_the_challenge_only_for_the_right_token(wa: TestClient) -> None:
    ok = wa.get(
        "/webhooks/whatsapp",
        params={
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    )
    assert ok.status_code == 200
    assert ok.text == "1158201444"
    assert ok.headers["content-type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1158201444"},
        {
            "hub.mode": "unsubscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "1158201444",
        },
    ):
        refused = wa.get("/webhooks/whatsapp", params=params)
        assert refused.status_code == 403
        assert "1158201444" not in refused.text


def test_the_protocol_notes_test_vector_verifies() -> None:
    body = (
        b'{"object":"whatsapp_business_account","entry":[{"id":"200000000000002","changes":[{"value":'
        b'{"messaging_product":"whatsapp","metadata":{"display_phone_number":"6280000000000",'
        b'"phone_number_id":"100000000000001"},"contacts":[{"profile":{"name":"Test Reporter"},'
        b'"wa_id":"6281234567890"}],"messages":[{"from":"6281234567890","id":"wamid.TEST0000000001",'
        b'"timestamp":"1767225600","type":"text","text":{"body":"halo"}}]},"field":"messages"}]}]}'
    )
    assert len(body) == 437
    header = "sha256=1939fd845b4c5e6c7ed519f7b85abc72b825ec7766b21ec1c1d5d836ee21c939"
    assert signature_ok("test_app_secret", body, header)
    assert not signature_ok("test_app_secret", body + b" ", header)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        {"X-Hub-Signature-256": "sha1=abc"},
    ],
)
def test_a_bad_or_missing_signature_is_401_and_stores_nothing(
    wa: TestClient, database: Database, headers: dict[str, str]
) -> None:
    raw, _ = signed(
        envelope({"from": WA_ID, "id": "wamid.X1", "type": "text", "text": {"body": "halo"}})
    )
    response = wa.post("/webhooks/whatsapp", content=raw, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"detail": "signature does not match"}
    assert rows(database, Inbound) == 0
    assert rows(database, OutboxMessage) == 0


def test_a_payload_signed_with_another_secret_is_refused(
    wa: TestClient, database: Database
) -> None:
    raw, headers = signed(
        envelope({"from": WA_ID, "id": "wamid.X2", "type": "text", "text": {"body": "halo"}}),
        secret="someone-elses-secret",
    )
    assert wa.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 401
    assert rows(database, Inbound) == 0


def test_a_signed_body_that_is_not_json_is_400(wa: TestClient) -> None:
    digest = hmac.new(APP_SECRET.encode(), b"{not json", hashlib.sha256).hexdigest()
    response = wa.post(
        "/webhooks/whatsapp",
        content=b"{not json",
        headers={"X-Hub-Signature-256": f"sha256={digest}"},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "the body is not JSON"}


def test_a_whole_report_over_the_webhook_is_stored_once_and_routed(
    wa: TestClient, wa_app: FastAPI, database: Database
) -> None:
    with database.unit() as session:
        create_agency(
            "PPA-LAMPUNG", "UPTD PPA Lampung", regions=["18"], national=False, session=session
        )
    phone = WhatsAppPhone(wa_app.state.runtime.inbox, wa)
    receipt = phone.report()
    assert len(receipt.replace("-", "")) == 13
    with database.unit() as session:
        report = session.exec(select(Report)).one()
        assert report.province == "18"
    texts = [message.text for message in phone.outbox()]
    assert any(receipt in text for text in texts)


def test_fifty_duplicate_deliveries_half_concurrent_make_one_turn_and_one_reply(
    wa: TestClient, database: Database
) -> None:
    raw, headers = signed(
        envelope({"from": WA_ID, "id": "wamid.DUP1", "type": "text", "text": {"body": "halo"}})
    )

    def deliver(_: int) -> int:
        return int(wa.post("/webhooks/whatsapp", content=raw, headers=headers).status_code)

    sequential = [deliver(n) for n in range(25)]
    with ThreadPoolExecutor(max_workers=25) as pool:
        concurrent = list(pool.map(deliver, range(25)))
    assert set(sequential + concurrent) == {200}
    assert rows(database, Inbound) == 1
    assert rows(database, OutboxMessage) == 1  # the welcome, once


def test_every_documented_shape_is_answered_200_and_the_odd_ones_get_a_kind_reply(
    wa: TestClient, wa_app: FastAPI, database: Database
) -> None:
    base = {"from": WA_ID, "timestamp": "1767225600"}
    shapes: list[dict[str, Any]] = [
        {"type": "sticker", "sticker": {"id": "m1", "mime_type": "image/webp", "animated": False}},
        {"type": "location", "location": {"latitude": -6.2, "longitude": 106.8, "name": "Rumah"}},
        {
            "type": "contacts",
            "contacts": [{"name": {"formatted_name": "Budi"}, "phones": [{"phone": "+62 811"}]}],
        },
        {"type": "reaction", "reaction": {"message_id": "wamid.BOT1", "emoji": "👍"}},
        {"type": "unsupported", "errors": [{"code": 131051, "title": "Message type unknown"}]},
        {"type": "interactive"},  # no interactive object at all (PROTOCOLS §1.4)
        {
            "type": "image",
            "image": {"id": "m2", "mime_type": "image/jpeg", "sha256": "abc", "caption": "lihat"},
        },
        {
            "type": "audio",
            "audio": {"id": "m3", "mime_type": "audio/ogg; codecs=opus", "voice": True},
        },
        {"type": "button", "button": {"payload": "welcome:start", "text": "Mulai"}},
        {"type": "text", "text": {"body": "😀" * 10}},
        {"type": "text", "text": {"body": "x" * 5000}},
    ]
    for number, shape in enumerate(shapes):
        raw, headers = signed(envelope({**base, "id": f"wamid.S{number}", **shape}))
        response = wa.post("/webhooks/whatsapp", content=raw, headers=headers)
        assert response.status_code == 200, shape
    assert rows(database, Inbound) == len(shapes)
    phone = WhatsAppPhone(wa_app.state.runtime.inbox, wa)
    said = [message.text for message in phone.outbox()]
    catalogue = wa_app.state.runtime.inbox.flows.catalogue
    # A first message of any kind is greeted; then location, contacts, reaction, "unsupported"
    # and a broken interactive each get the kind reply, and files outside the evidence step
    # are thanked for and not kept.
    assert said[0].startswith("Halo. Ini Lapor Aman")
    assert said.count(catalogue.text("unsupported", "id")) == 5
    assert said.count(catalogue.text("media.not_now", "id")) == 2
    # A statuses-only notification, an errors-only one and odd envelopes are fine too.
    odd: list[Any] = [
        envelope(
            statuses=[
                {"id": "wamid.OURS", "status": "delivered", "timestamp": "1", "recipient_id": WA_ID}
            ]
        ),
        {
            "object": "whatsapp_business_account",
            "entry": [{"changes": [{"value": {"errors": [{"code": 130429}]}}]}],
        },
        {"object": "page"},
        [],
    ]
    for payload in odd:
        raw, headers = signed(payload)
        assert wa.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200


def test_a_username_without_a_phone_number_is_a_reporter_too(
    wa: TestClient, wa_app: FastAPI, database: Database
) -> None:
    message = {
        "from_user_id": "US.13491208655302741918",
        "id": "wamid.BSUID1",
        "timestamp": "1767225600",
        "type": "text",
        "text": {"body": "halo"},
    }
    payload = envelope(message)
    payload["entry"][0]["changes"][0]["value"]["contacts"] = [
        {
            "profile": {"name": PROFILE_NAME, "username": "@siti.canary"},
            "user_id": "US.13491208655302741918",
        }
    ]
    raw, headers = signed(payload)
    assert wa.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200
    phone = WhatsAppPhone(wa_app.state.runtime.inbox, wa, "US.13491208655302741918")
    assert len(phone.outbox()) == 1


def test_a_delivery_receipt_marks_our_message_delivered(
    wa: TestClient, wa_app: FastAPI, database: Database
) -> None:
    runtime = wa_app.state.runtime
    inbox: Inbox = runtime.inbox
    inbox.handle(WhatsAppPhone(inbox, wa).message(UserInput(InputKind.text, text="halo")))
    with database.unit() as session:
        sent = session.exec(select(OutboxMessage)).one()
        sent.status = OutboxStatus.sent
        sent.provider_key = runtime.crypto.hasher.delivery_key("whatsapp-out", "wamid.OURS1")
        session.add(sent)
    raw, headers = signed(
        envelope(
            statuses=[
                {"id": "wamid.OURS1", "status": "read", "timestamp": "1", "recipient_id": WA_ID}
            ]
        )
    )
    assert wa.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200
    with database.unit() as session:
        assert session.exec(select(OutboxMessage)).one().status == OutboxStatus.delivered


def test_a_whole_report_reaches_the_reporter_through_the_graph_api(
    tmp_path: Path, keys: Keys, database: Database
) -> None:
    fake = FakeGraph(enforce_window=True)
    with serve(fake.app()) as graph_base:
        app = whatsapp_app(tmp_path, keys, database, f"{graph_base}/v23.0")
        with TestClient(app, raise_server_exceptions=False) as client:
            phone = GraphPhone(app.state.runtime.inbox, client, fake)
            receipt = phone.report()
            with database.unit() as session:
                waiting = session.exec(
                    select(func.count()).where(OutboxMessage.status != OutboxStatus.sent)
                ).one()
    assert waiting == 0
    assert fake.refused == []
    assert {body["to"] for body in fake.sent} == {WA_ID}
    texts = fake.texts()
    assert texts[0].startswith("Halo. Ini Lapor Aman")
    assert sum(receipt in text for text in texts) == 1


def test_a_caller_that_leaves_mid_body_is_logged_as_gone_not_as_an_error(
    wa_app: FastAPI, database: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="lapor.http")
    with serve(wa_app) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(
                b"POST /webhooks/whatsapp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b"\r\nContent-Length: 500\r\n\r\n" + b'{"object": "whatsapp_b'
            )
            time.sleep(0.3)  # the route is waiting for the rest of the body
        deadline = time.monotonic() + 10
        while not any(getattr(r, "status", None) == 499 for r in caplog.records):
            assert time.monotonic() < deadline, [r.__dict__.get("status") for r in caplog.records]
            time.sleep(0.05)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert rows(database, Inbound) == 0
