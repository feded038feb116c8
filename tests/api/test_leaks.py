"""The leak scan: canaries in every field a reporter or a channel can send (texts, names,
usernames, ids, captions, file names, locations, contact cards, photo metadata), on WhatsApp and
Telegram, then a duty officer reads everything the API offers. None of the canaries may be in the
database file, its WAL, the logs, ``/metrics`` or any API response; the story's phone number, NIK
and e-mail reach officers masked."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import select

from api.logs import configure_logging
from api.main import create_app
from storage.crypto import Keys
from storage.db import Database
from storage.models import AlertStatus, Attachment, AttachmentStatus, Priority, Role, utcnow
from tests.api.conftest import Desk
from tests.api.test_alerts import (
    OFFICER_BOT,
    OFFICER_TOKEN,
    SARI_CHAT,
    SARI_EMAIL,
    SPV_EMAIL,
    AlertDesk,
    alert_settings,
    free_port,
    smtp_server,
    wait_for,
)
from tests.api.test_alerts import body as alert_body
from tests.api.test_telegram import (
    CANARY_NAME,
    CANARY_USERNAME,
    TelegramPhone,
    chat,
    telegram_app,
    user,
)
from tests.api.test_telegram import USER_ID as TELEGRAM_USER_ID
from tests.api.test_whatsapp_webhook import PROFILE_NAME as WHATSAPP_NAME
from tests.api.test_whatsapp_webhook import (
    WA_ID,
    GraphPhone,
    WhatsAppPhone,
    envelope,
    signed,
    whatsapp_settings,
)
from tests.fake_telegram import FakeBotApi
from tests.fakes import FakeGraph, serve
from tests.support import STORY
from tests.support import wait_until_sent as wait_for_outbox

LATITUDE, LONGITUDE = "-6.918273", "107.619123"
CANARIES = (
    # who the reporters are
    WA_ID,
    WA_ID[2:],  # the number as written at home, after 0
    WHATSAPP_NAME,
    "siti.canary",
    "US.99990000111122223333",
    str(TELEGRAM_USER_ID),
    CANARY_NAME,
    CANARY_USERNAME,
    # what they attached around the evidence, and the odd messages
    "Caption Kanari Rahasia",
    "berkas-kanari-rahasia.pdf",
    "Jl. Kanari Nomor 12",
    "Rumah Kanari",
    LATITUDE[1:],
    LONGITUDE,
    "Budi Kanari",
    "+62 811 9999 0000",
    "CanaryCam",
    # what the story says that identifies someone: officers see it masked
    "0812-3456-7890",
    "1871014501900001",
    "siti.rahayu@example.org",
)


def photo() -> bytes:
    image = Image.new("RGB", (32, 16), (30, 120, 200))
    exif = Image.Exif()
    exif[0x010F] = "CanaryCam"  # the camera's make, in the metadata
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def logs() -> Iterator[io.StringIO]:
    """The product's own logging, as in production (JSON lines, INFO), written to a buffer the
    test reads (pytest's stderr capture is swapped between a test's phases)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    configure_logging("INFO")
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    written = io.StringIO()
    handler.setStream(written)
    try:
        yield written
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)


def whatsapp_extras(phone: WhatsAppPhone) -> None:
    """At the evidence step: a photo with a caption, a named document, a location, a contact."""
    for extra in (
        {
            "type": "image",
            "image": {
                "id": "MEDIA-PHOTO",
                "mime_type": "image/jpeg",
                "caption": "Caption Kanari Rahasia",
            },
        },
        {
            "type": "document",
            "document": {
                "id": "MEDIA-DOC",
                "mime_type": "application/pdf",
                "filename": "berkas-kanari-rahasia.pdf",
                "caption": "Caption Kanari Rahasia",
            },
        },
        {
            "type": "location",
            "location": {
                "latitude": float(LATITUDE),
                "longitude": float(LONGITUDE),
                "name": "Rumah Kanari",
                "address": "Jl. Kanari Nomor 12",
            },
        },
        {
            "type": "contacts",
            "contacts": [
                {
                    "name": {"formatted_name": "Budi Kanari"},
                    "phones": [{"phone": "+62 811 9999 0000"}],
                }
            ],
        },
    ):
        body = {"from": phone.identity, "id": phone.wamid(), "timestamp": "1767225600"}
        assert phone.post({**body, **extra}) == 200


def telegram_extras(phone: TelegramPhone) -> None:
    base = {"from": user(), "chat": chat(), "date": 1767225600}
    for extra in (
        {
            "photo": [{"file_id": "TG-PHOTO", "file_unique_id": "p1", "width": 32, "height": 16}],
            "caption": "Caption Kanari Rahasia",
        },
        {
            "document": {
                "file_id": "TG-DOC",
                "file_unique_id": "d1",
                "mime_type": "application/pdf",
                "file_name": "berkas-kanari-rahasia.pdf",
            },
            "caption": "Caption Kanari Rahasia",
        },
        {"location": {"latitude": float(LATITUDE), "longitude": float(LONGITUDE)}},
        {"contact": {"phone_number": "+62 811 9999 0000", "first_name": "Budi Kanari"}},
    ):
        message = {"message_id": 300 + phone.sent, **base, **extra}
        assert phone.post(phone.update(message=message)) == 200


def test_no_canary_reaches_the_database_the_logs_the_metrics_or_the_api(
    tmp_path: Path,
    keys: Keys,
    sqlite_database: Database,
    logs: io.StringIO,
) -> None:
    graph, bot_api = FakeGraph(), FakeBotApi()
    graph.media = {
        "MEDIA-PHOTO": (photo(), "image/jpeg"),
        "MEDIA-DOC": (b"%PDF-1.4 x", "application/pdf"),
    }
    bot_api.files = {"TG-PHOTO": photo(), "TG-DOC": b"%PDF-1.4 y"}
    with serve(graph.app()) as graph_base, serve(bot_api.app()) as bot_base:
        graph.base_url = graph_base
        whatsapp_on = whatsapp_settings(f"{graph_base}/v23.0")
        app = telegram_app(tmp_path, keys, sqlite_database, bot_base, **whatsapp_on)
        with TestClient(app, raise_server_exceptions=False) as client:
            inbox = app.state.runtime.inbox
            desk = Desk(client, app.state.runtime)
            lampung = desk.agency("PPA-LAMPUNG", regions=("18",))
            desk.officer("petugas", lampung, Role.supervisor)

            whatsapp = GraphPhone(inbox, client, graph)
            whatsapp.report(evidence=lambda: whatsapp_extras(whatsapp))
            username = {
                "from_user_id": "US.99990000111122223333",
                "id": "wamid.LEAK",
                "type": "text",
            }
            payload = envelope({**username, "text": {"body": "halo"}})
            payload["entry"][0]["changes"][0]["value"]["contacts"] = [
                {"profile": {"name": WHATSAPP_NAME, "username": "@siti.canary"}}
            ]
            raw, headers = signed(payload)
            assert (
                client.post("/webhooks/whatsapp", content=raw, headers=headers).status_code == 200
            )
            telegram = TelegramPhone(inbox, client, bot_api)
            telegram.report(evidence=lambda: telegram_extras(telegram))
            wait_for_outbox(sqlite_database)
            wait_for_evidence(sqlite_database)

            answers = everything_an_officer_reads(client, desk.login("petugas"))
            answers.append(client.get("/metrics").text)
    path = sqlite_database.url.database
    assert path is not None
    stored = b"".join(
        Path(name).read_bytes() for name in (path, f"{path}-wal") if Path(name).exists()
    )
    logged = logs.getvalue()
    api = "\n".join(answers)
    assert api.count('"reference"') >= 2  # both reports were read
    assert "NIK [NIK]" in api  # officers read the story, masked
    for canary in CANARIES:
        assert canary.encode() not in stored, f"{canary!r} in the database"
        assert canary not in logged, f"{canary!r} in the logs"
        assert canary not in api, f"{canary!r} in an API response or /metrics"
    # At INFO the logs carry the product's own events: no library writes a line per request.
    entries = [json.loads(line) for line in logged.splitlines()]
    assert len(entries) > 20
    assert {entry["logger"].split(".")[0] for entry in entries} == {"lapor"}
    assert not [entry for entry in entries if entry["message"] == "-"]


def wait_for_evidence(database: Database, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while True:
        with database.unit() as session:
            waiting = session.exec(
                select(Attachment).where(Attachment.status == AttachmentStatus.pending)
            ).all()
        if not waiting:
            return
        assert time.monotonic() < deadline, [(a.source, a.attempts, a.last_error) for a in waiting]
        time.sleep(0.05)


def everything_an_officer_reads(client: TestClient, auth: dict[str, str]) -> list[str]:
    answers: list[str] = []

    def read(path: str) -> Any:
        response = client.get(path, headers=auth)
        assert response.status_code == 200, (path, response.text)
        answers.append(response.text)
        return response.json() if "json" in response.headers.get("content-type", "") else None

    queue = read("/api/v1/reports")
    downloads = 0
    for item in queue["items"]:
        report = read(f"/api/v1/reports/{item['id']}")
        read(f"/api/v1/reports/{item['id']}/timeline")
        for attachment in report["attachments"]:
            read(f"/api/v1/reports/{item['id']}/attachments/{attachment['id']}")
            downloads += 1
    assert downloads == 4  # a photo and a document from each channel
    read("/api/v1/audit")
    read("/api/v1/stats")
    return answers


def test_officer_addresses_stay_out_of_the_database_and_logs_and_alerts_say_nothing_of_the_report(
    tmp_path: Path,
    keys: Keys,
    sqlite_database: Database,
    logs: None,
    capfd: pytest.CaptureFixture[str],
) -> None:
    officer_bot = FakeBotApi(token=OFFICER_TOKEN, user=OFFICER_BOT)
    port = free_port()
    with smtp_server(port) as mailbox, serve(officer_bot.app()) as bot_base:
        settings = alert_settings(tmp_path, keys, sqlite_database, port, bot_base)
        app = create_app(settings, database=sqlite_database)
        with TestClient(app, raise_server_exceptions=False) as client:
            desk = AlertDesk(client, app.state.runtime, mailbox=mailbox, bot=officer_bot)
            lampung = desk.agency("PPA-LAMPUNG", regions=("18",))
            sari = desk.officer("sari", lampung)
            rina = desk.officer("rina", lampung, Role.supervisor)
            desk.reach(sari, address=SARI_EMAIL, on_duty=True)
            desk.reach(rina, address=SPV_EMAIL)
            desk.link_telegram("sari", SARI_CHAT)
            receipt = desk.phone("leaky-reporter").report()  # high: the story has the canaries
            critical = desk.report(
                province="18", priority=Priority.critical, story=STORY, category="trafficking"
            )
            later = utcnow() + timedelta(minutes=8)
            desk.runtime.clock = lambda: later
            assert desk.runtime.alerts is not None
            desk.runtime.alerts.clock = desk.runtime.clock
            desk.runtime.sweep()  # half the critical report's SLA: Sari again, and Rina
            wait_for(lambda: len(mailbox.received()) == 3 and len(desk.replies_to(SARI_CHAT)) == 3)
            assert len(desk.alerts()) == 5
            assert {alert.status for alert in desk.alerts()} == {AlertStatus.sent}
            alerts_sent = [f"{m['Subject']}\n{alert_body(m)}" for m in mailbox.received()]
            alerts_sent += desk.replies_to(SARI_CHAT)[1:]  # after the bot's "linked"
    path = sqlite_database.url.database
    assert path is not None
    stored = b"".join(
        Path(name).read_bytes() for name in (path, f"{path}-wal") if Path(name).exists()
    )
    logged = capfd.readouterr()
    for canary in (SARI_EMAIL, SPV_EMAIL, str(SARI_CHAT)):
        assert canary.encode() not in stored, f"{canary!r} in the database"
        assert canary not in logged.out + logged.err, f"{canary!r} in the logs"
    assert any(critical in text for text in alerts_sent)
    reporter_words = (*CANARIES, "Nomor saya", receipt, "psik", "psycholog", "trafficking")
    for text in alerts_sent:
        assert "/console/reports/" in text
        for word in reporter_words:
            assert word.lower() not in text.lower(), f"{word!r} in an alert"
