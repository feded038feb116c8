"""Officer alerts end to end: a real SMTP server on loopback (aiosmtpd) receives the e-mails, and
the officers' bot runs through python-telegram-bot against a fake Bot API of its own (its own
token), in webhook and in polling mode. Reports come through the real flow (tests.support)."""

from __future__ import annotations

import email
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from api.main import create_app
from api.runtime import Runtime
from api.settings import ConfigError, Settings, load_keys
from bot.alerts import AlertSender, AlertText, EmailTransport, SmtpServer
from bot.sender import Result
from storage import alerts, officer_contacts
from storage.agencies import create_agency
from storage.crypto import Crypto, Keys
from storage.db import Database, Unit
from storage.models import Alert, AlertKind, AlertStatus, Officer, Priority, Role
from storage.officers import hash_password
from storage.reports import NewReport, create_report
from tests.api.conftest import PASSWORD, Desk, make_settings
from tests.api.test_crash import Server
from tests.conftest import _truncate_all
from tests.fake_telegram import TOKEN, FakeBotApi
from tests.fakes import serve

OFFICER_TOKEN = "654321:OFFICER-token"
OFFICER_BOT = {
    "id": 900000002,
    "is_bot": True,
    "first_name": "Petugas Lapor",
    "username": "lapor_petugas_bot",
}
OFFICER_SECRET = "officer-Secret_token-42"
PUBLIC_URL = "https://lapor.example.go.id"
SARI_EMAIL = "sari.piket@ppa-lampung.example"
BUDI_EMAIL = "budi.libur@ppa-lampung.example"
SPV_EMAIL = "rina.spv@ppa-lampung.example"
SARI_CHAT = 5550001234
SENDER = "lapor@ppa.example"


class Mailbox:
    """aiosmtpd's handler: every message it accepted, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def received(self) -> list[Message]:
        with self.lock:
            return list(self.messages)

    def to(self, address: str) -> list[Message]:
        return [message for message in self.received() if message["To"] == address]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def smtp_server(port: int) -> Iterator[Mailbox]:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> float:
    """Seconds until ``condition`` held (fails after ``seconds``)."""
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < seconds, "timed out"
        time.sleep(0.05)
    return time.monotonic() - start


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def mailbox(smtp_port: int) -> Iterator[Mailbox]:
    with smtp_server(smtp_port) as box:
        yield box


BotServer = tuple[FakeBotApi, str]


@pytest.fixture
def officer_api() -> Iterator[BotServer]:
    fake = FakeBotApi(token=OFFICER_TOKEN, user=OFFICER_BOT)
    with serve(fake.app()) as base:
        yield fake, base


def alert_settings(
    tmp_path: Path, keys: Keys, database: Database, smtp_port: int, bot_base: str, **extra: Any
) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.url.render_as_string(False),
        "public_url": PUBLIC_URL,
        "smtp_url": f"smtp://127.0.0.1:{smtp_port}",
        "smtp_from": SENDER,
        "officer_telegram_token": OFFICER_TOKEN,
        "officer_telegram_mode": "webhook",
        "officer_telegram_webhook_secret": OFFICER_SECRET,
        "telegram_api_url": f"{bot_base}/bot",
        "telegram_file_url": f"{bot_base}/file/bot",
        "telegram_chat_seconds": 0,
        "send_poll_seconds": 0.05,
    }
    return make_settings(tmp_path, keys, **{**values, **extra})


@dataclass
class AlertDesk(Desk):
    mailbox: Mailbox = field(default_factory=Mailbox)
    bot: FakeBotApi = field(default_factory=FakeBotApi)
    updates: int = 0

    def reach(self, officer_id: int, *, address: str | None = None, on_duty: bool = False) -> None:
        cipher = self.runtime.crypto.cipher
        with self.database.unit() as session:
            now = datetime.now(UTC)
            officer_contacts.set_on_duty(officer_id, on_duty, now, session=session)
            if address is not None:
                officer_contacts.set_email(
                    officer_id, cipher.encrypt_text(address), now, session=session
                )

    def tell_bot(self, chat_id: int, text: str, *, secret: str = OFFICER_SECRET) -> int:
        """An update from an officer's private chat, over the officers' webhook; the status."""
        self.updates += 1
        update = {
            "update_id": 10_000 + self.updates,
            "message": {
                "message_id": self.updates,
                "from": {"id": chat_id, "is_bot": False, "first_name": "Petugas"},
                "chat": {"id": chat_id, "type": "private"},
                "date": 1767225600,
                "text": text,
            },
        }
        response = self.client.post(
            "/webhooks/telegram-officers",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": secret},
        )
        return int(response.status_code)

    def link_telegram(self, username: str, chat_id: int) -> None:
        response = self.client.post("/api/v1/me/telegram-link", headers=self.login(username))
        assert response.status_code == 200, response.text
        assert self.tell_bot(chat_id, f"/start {response.json()['code']}") == 200

    def replies_to(self, chat_id: int) -> list[str]:
        return [str(m["text"]) for m in self.bot.sent() if int(m["chat_id"]) == chat_id]

    def alerts(self) -> list[Alert]:
        with self.database.unit() as session:
            return list(session.exec(select(Alert).order_by(Alert.id)).all())  # type: ignore[arg-type]


@pytest.fixture
def alerting_app(
    tmp_path: Path, keys: Keys, database: Database, smtp_port: int, officer_api: BotServer
) -> FastAPI:
    """The app with e-mail alerts to ``smtp_port`` and the officers' bot in webhook mode."""
    _, base = officer_api
    return create_app(alert_settings(tmp_path, keys, database, smtp_port, base), database=database)


@pytest.fixture
def desk_with_alerts(
    alerting_app: FastAPI, mailbox: Mailbox, officer_api: BotServer
) -> Iterator[AlertDesk]:
    fake, _ = officer_api
    app = alerting_app
    with TestClient(app, raise_server_exceptions=False) as client:
        yield AlertDesk(client=client, runtime=app.state.runtime, mailbox=mailbox, bot=fake)


def lampung_team(desk: AlertDesk) -> dict[str, int]:
    """An agency for Lampung: Sari on duty (e-mail and Telegram), Budi off duty, a supervisor."""
    agency = desk.agency("PPA-LAMPUNG", regions=("18",))
    team = {
        "sari": desk.officer("sari", agency),
        "budi": desk.officer("budi", agency),
        "rina": desk.officer("rina", agency, Role.supervisor),
        "agency": agency,
    }
    desk.reach(team["sari"], address=SARI_EMAIL, on_duty=True)
    desk.reach(team["budi"], address=BUDI_EMAIL, on_duty=False)
    desk.reach(team["rina"], address=SPV_EMAIL, on_duty=False)
    desk.link_telegram("sari", SARI_CHAT)
    return team


def test_an_urgent_report_reaches_the_on_duty_officer_on_each_channel_within_30_seconds(
    desk_with_alerts: AlertDesk,
) -> None:
    desk = desk_with_alerts
    team = lampung_team(desk)
    receipt = desk.phone("reporter-1").report()  # ongoing violence: high priority, Mesuji

    took = wait_for(
        lambda: bool(desk.mailbox.to(SARI_EMAIL)) and len(desk.replies_to(SARI_CHAT)) > 1
    )
    assert took < 30

    [mail] = desk.mailbox.to(SARI_EMAIL)
    telegram = desk.replies_to(SARI_CHAT)[-1]
    report = desk.alerts()[0].report_id
    reference = desk.client.get(f"/api/v1/reports/{report}", headers=desk.login("sari")).json()[
        "reference"
    ]
    assert mail["Subject"] == f"[Lapor Aman] Laporan TINGGI {reference}"
    assert mail["From"] == SENDER
    for text in (body(mail), telegram):
        assert reference in text
        assert "Prioritas: TINGGI" in text
        assert "Mesuji" in text
        assert f"{PUBLIC_URL}/console/reports/{report}" in text
        assert "WIB" in text
        # Nothing the reporter chose or wrote, and not the receipt.
        for secret in (
            "psik",
            "psycholog",
            "0812",
            "Nomor saya",
            receipt,
            receipt.replace("-", ""),
        ):
            assert secret.lower() not in text.lower()
    # Off-duty officers and (someone is on duty) the supervisor get nothing.
    time.sleep(0.3)
    assert desk.mailbox.to(BUDI_EMAIL) == []
    assert desk.mailbox.to(SPV_EMAIL) == []
    assert sorted((a.officer_id, str(a.channel), str(a.kind)) for a in desk.alerts()) == [
        (team["sari"], "email", "new_report"),
        (team["sari"], "telegram", "new_report"),
    ]
    assert all(a.status == AlertStatus.sent for a in desk.alerts())
    metrics = desk.client.get("/metrics").text
    assert 'lapor_alerts_total{channel="email",result="sent"}' in metrics
    assert 'lapor_alerts_total{channel="telegram",result="sent"}' in metrics


def test_with_nobody_on_duty_the_supervisors_are_alerted(desk_with_alerts: AlertDesk) -> None:
    desk = desk_with_alerts
    team = lampung_team(desk)
    sari = desk.login("sari")
    for unclear in (0, "no", None):  # only a JSON boolean changes the duty, never a guess
        answer = desk.client.put("/api/v1/me/duty", json={"on_duty": unclear}, headers=sari)
        assert answer.status_code == 422, unclear
    assert desk.client.get("/api/v1/me", headers=sari).json()["on_duty"] is True
    put = desk.client.put("/api/v1/me/duty", json={"on_duty": False}, headers=sari)
    assert put.json()["on_duty"] is False
    desk.phone("reporter-2").report()
    wait_for(lambda: bool(desk.mailbox.to(SPV_EMAIL)))
    time.sleep(0.3)
    assert desk.mailbox.to(SARI_EMAIL) == []
    assert desk.mailbox.to(BUDI_EMAIL) == []
    assert [a.officer_id for a in desk.alerts()] == [team["rina"]]


def test_a_normal_report_alerts_nobody(desk_with_alerts: AlertDesk) -> None:
    desk = desk_with_alerts
    lampung_team(desk)
    desk.report(province="18", priority=Priority.normal)
    desk.runtime.sweep()
    assert desk.alerts() == []


def test_a_critical_report_unclaimed_at_half_its_sla_alerts_again_and_the_supervisors(
    desk_with_alerts: AlertDesk,
) -> None:
    desk = desk_with_alerts
    team = lampung_team(desk)
    received = datetime.now(UTC)
    late = desk.report(
        province="18", regency="18.11", priority=Priority.critical, created_at=received
    )
    claimed = desk.report(province="18", priority=Priority.critical, created_at=received)
    desk.client.post(f"/api/v1/reports/{claimed}/claim", headers=desk.login("budi"))

    desk.runtime.clock = lambda: received + timedelta(minutes=7)  # SLA 15 min: not yet half
    desk.runtime.sweep()
    assert desk.alerts() == []

    desk.runtime.clock = lambda: received + timedelta(minutes=8)
    assert desk.runtime.alerts is not None
    desk.runtime.alerts.clock = desk.runtime.clock  # the whole process is eight minutes on
    desk.runtime.sweep()
    desk.runtime.sweep()  # a second sweep finds nothing new
    reminded = {(a.report_id, a.officer_id, str(a.channel), str(a.kind)) for a in desk.alerts()}
    assert reminded == {
        (late, team["sari"], "email", "half_sla"),
        (late, team["sari"], "telegram", "half_sla"),
        (late, team["rina"], "email", "half_sla"),
    }
    wait_for(lambda: bool(desk.mailbox.to(SPV_EMAIL)) and bool(desk.mailbox.to(SARI_EMAIL)))
    [mail] = desk.mailbox.to(SPV_EMAIL)
    assert "Pengingat" in mail["Subject"]
    assert "KRITIS" in mail["Subject"]
    assert desk.mailbox.to(BUDI_EMAIL) == []


def test_the_officers_bot_links_a_chat_with_a_code_and_unlinks_it_on_stop(
    desk_with_alerts: AlertDesk,
) -> None:
    desk = desk_with_alerts
    agency = desk.agency("PPA-LAMPUNG", regions=("18",))
    desk.officer("sari", agency)
    headers = desk.login("sari")
    me = desk.client.get("/api/v1/me", headers=headers).json()
    assert me == {
        "username": "sari",
        "agency": "PPA-LAMPUNG",
        "role": "officer",
        "email": None,
        "on_duty": False,
        "telegram_linked": False,
    }
    link = desk.client.post("/api/v1/me/telegram-link", headers=headers).json()
    assert link["link"] == f"https://t.me/lapor_petugas_bot?start={link['code']}"

    assert desk.tell_bot(SARI_CHAT, "/start BUKANKODE1") == 200
    assert "tidak berlaku" in desk.replies_to(SARI_CHAT)[-1]
    assert desk.client.get("/api/v1/me", headers=headers).json()["telegram_linked"] is False

    assert desk.tell_bot(SARI_CHAT, f"/start {link['code'].lower()}") == 200
    assert desk.replies_to(SARI_CHAT)[-1].startswith("Terhubung. Akun sari")
    assert desk.client.get("/api/v1/me", headers=headers).json()["telegram_linked"] is True

    # The same update delivered again: still linked, and said so.
    assert desk.tell_bot(SARI_CHAT, f"/start {link['code']}") == 200
    assert desk.replies_to(SARI_CHAT)[-1].startswith("Terhubung. Akun sari")
    # Used once: another chat cannot take the same code.
    assert desk.tell_bot(SARI_CHAT + 1, f"/start {link['code']}") == 200
    assert "tidak berlaku" in desk.replies_to(SARI_CHAT + 1)[-1]

    assert desk.tell_bot(SARI_CHAT, "/stop") == 200
    assert "tidak lagi menerima" in desk.replies_to(SARI_CHAT)[-1]
    assert desk.client.get("/api/v1/me", headers=headers).json()["telegram_linked"] is False


def test_an_expired_code_links_nothing(desk_with_alerts: AlertDesk) -> None:
    desk = desk_with_alerts
    desk.officer("sari", desk.agency("PPA-LAMPUNG", regions=("18",)))
    headers = desk.login("sari")
    code = desk.client.post("/api/v1/me/telegram-link", headers=headers).json()["code"]
    officer_bot = desk.runtime.officer_bot
    assert officer_bot is not None
    officer_bot.clock = lambda: datetime.now(UTC) + timedelta(minutes=10, seconds=1)
    assert desk.tell_bot(SARI_CHAT, f"/start {code}") == 200
    assert "tidak berlaku" in desk.replies_to(SARI_CHAT)[-1]
    assert desk.client.get("/api/v1/me", headers=headers).json()["telegram_linked"] is False


def test_the_officers_webhook_refuses_a_wrong_secret(desk_with_alerts: AlertDesk) -> None:
    desk = desk_with_alerts
    assert desk.tell_bot(SARI_CHAT, "/stop", secret="wrong") == 401
    assert desk.replies_to(SARI_CHAT) == []
    bad = desk.client.post(
        "/webhooks/telegram-officers",
        content=b"{not json",
        headers={"X-Telegram-Bot-Api-Secret-Token": OFFICER_SECRET},
    )
    assert bad.status_code == 400
    assert "detail" in bad.json()


def test_the_officers_bot_links_a_chat_in_polling_mode(
    tmp_path: Path,
    keys: Keys,
    database: Database,
    smtp_port: int,
    officer_api: tuple[FakeBotApi, str],
) -> None:
    fake, base = officer_api
    settings = alert_settings(
        tmp_path,
        keys,
        database,
        smtp_port,
        base,
        officer_telegram_mode="polling",
        officer_telegram_webhook_secret=None,
    )
    app = create_app(settings, database=database)
    with TestClient(app, raise_server_exceptions=False) as client:
        desk = AlertDesk(client=client, runtime=app.state.runtime, bot=fake)
        desk.officer("sari", desk.agency("PPA-LAMPUNG", regions=("18",)))
        headers = desk.login("sari")
        code = client.post("/api/v1/me/telegram-link", headers=headers).json()["code"]
        fake.updates = [
            {
                "update_id": 1,
                "message": {
                    "message_id": 1,
                    "from": {"id": SARI_CHAT, "is_bot": False, "first_name": "Sari"},
                    "chat": {"id": SARI_CHAT, "type": "private"},
                    "date": 1767225600,
                    "text": f"/start {code}",
                },
            }
        ]
        wait_for(lambda: bool(desk.replies_to(SARI_CHAT)), 20)
        assert desk.replies_to(SARI_CHAT)[0].startswith("Terhubung")
        assert client.get("/api/v1/me", headers=headers).json()["telegram_linked"] is True
        # In polling mode the officers' webhook is off.
        assert desk.tell_bot(SARI_CHAT, "/stop") == 404


def test_without_the_officers_bot_a_link_code_is_refused_clearly(desk: Desk) -> None:
    desk.officer("sari", desk.agency("PPA-LAMPUNG", regions=("18",)))
    response = desk.client.post("/api/v1/me/telegram-link", headers=desk.login("sari"))
    assert response.status_code == 409
    assert "not configured" in response.json()["detail"]


def _one_alert(desk: Desk, address: str) -> str:
    """A high report with one queued e-mail alert for an on-duty officer; the report's id."""
    agency = desk.agency("PPA-LAMPUNG", regions=("18",))
    officer = desk.officer("sari", agency)
    cipher = desk.runtime.crypto.cipher
    report_id = desk.report(province="18", priority=Priority.high)
    with desk.database.unit() as session:
        now = datetime.now(UTC)
        officer_contacts.set_email(officer, cipher.encrypt_text(address), now, session=session)
        officer_contacts.set_on_duty(officer, True, now, session=session)
        queued = alerts.queue_agency_alerts(
            agency, report_id, AlertKind.new_report, now, session=session
        )
        again = alerts.queue_agency_alerts(
            agency, report_id, AlertKind.new_report, now, session=session
        )
    assert (queued, again) == (1, 0)
    return report_id


def test_an_smtp_server_that_is_down_then_up_gets_the_alert_once(desk: Desk) -> None:
    _one_alert(desk, SARI_EMAIL)
    port = free_port()
    later = [datetime.now(UTC)]
    sender = AlertSender(
        desk.database,
        desk.runtime.crypto,
        [EmailTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), SENDER)],
        public_url=PUBLIC_URL,
        place_name=lambda _p, _r: "Lampung",
        clock=lambda: later[0],
    )
    assert sender.run_once() == 1  # nobody listens: retried later
    with desk.database.unit() as session:
        [alert] = session.exec(select(Alert)).all()
        assert (alert.status, alert.attempts) == (AlertStatus.pending, 1)
        assert alert.last_error == "smtp:ConnectionRefusedError"
    with smtp_server(port) as box:
        assert sender.run_once() == 0  # backing off
        later[0] += timedelta(hours=1)
        assert sender.run_once() == 1
        assert sender.run_once() == 0
        wait_for(lambda: len(box.received()) == 1, 5)
        time.sleep(0.2)
        assert len(box.received()) == 1
    with desk.database.unit() as session:
        [alert] = session.exec(select(Alert)).all()
        assert alert.status == AlertStatus.sent


def test_a_refused_recipient_fails_without_its_address_in_the_logs(
    desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    _one_alert(desk, "nobody@refused.example")

    class Refusing(Mailbox):
        async def handle_RCPT(
            self, _server: object, _session: object, _envelope: object, _address: str, _o: object
        ) -> str:
            return "550 no such user"

    port = free_port()
    controller = Controller(Refusing(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = AlertSender(
            desk.database,
            desk.runtime.crypto,
            [EmailTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), SENDER)],
            public_url=PUBLIC_URL,
            place_name=lambda _p, _r: "Lampung",
            clock=lambda: datetime.now(UTC),
        )
        sender.run_once()
    finally:
        controller.stop()
    with desk.database.unit() as session:
        [alert] = session.exec(select(Alert)).all()
        assert (alert.status, alert.last_error) == (AlertStatus.failed, "smtp:recipient_refused")
    assert "refused.example" not in caplog.text


def seed_critical_reports(database_url: str, crypto: Crypto, count: int) -> None:
    """Two officers on duty with e-mail, and ``count`` critical reports whose alerts are queued
    as a submission queues them (two a report)."""
    seed = Database(database_url)
    try:
        with seed.unit() as session:
            agency = create_agency(
                "PPA-LAMPUNG", "Lampung", regions=["18"], national=False, session=session
            )
            assert agency.id is not None
            for name in ("sari", "budi"):
                officer = Officer(
                    username=name,
                    password_hash=hash_password(PASSWORD),
                    agency_id=agency.id,
                    role=Role.officer,
                )
                session.add(officer)
                session.flush()
                assert officer.id is not None
                now = datetime.now(UTC)
                officer_contacts.set_email(
                    officer.id,
                    crypto.cipher.encrypt_text(f"{name}@ppa.example"),
                    now,
                    session=session,
                )
                officer_contacts.set_on_duty(officer.id, True, now, session=session)
            for _ in range(count // 2):
                report = create_report(
                    NewReport(
                        fields={"province": "18"},
                        priority=Priority.critical,
                        danger=True,
                        locale="id",
                        receipt_hash=secrets.token_hex(32),
                        story=None,
                        story_masked=None,
                        callback_phone=None,
                        reply_channel=None,
                        reply_address=None,
                    ),
                    datetime.now(UTC),
                    conversation_id=None,
                    unit=Unit.of(session),
                )
                alerts.queue_new_report_alerts(report, datetime.now(UTC), unit=Unit.of(session))
    finally:
        seed.dispose()


def assert_each_alert_came_once(mailbox: Mailbox, count: int) -> None:
    wait_for(lambda: len(mailbox.received()) >= count, 60)
    time.sleep(0.5)  # a duplicate would arrive about now
    assert len(mailbox.received()) == count
    subjects = [(m["To"], m["Subject"]) for m in mailbox.received()]
    assert len(set(subjects)) == count


@pytest.mark.postgres_only
def test_two_senders_with_their_own_engines_send_each_alert_once(
    postgres_migrated: str, keys: Keys, smtp_port: int, mailbox: Mailbox
) -> None:
    _truncate_all(postgres_migrated)
    crypto = Crypto.from_keys(keys)
    count = 40
    seed_critical_reports(postgres_migrated, crypto, count)

    def sender() -> tuple[Database, AlertSender]:
        database = Database(postgres_migrated)  # an engine of its own, like another process
        return database, AlertSender(
            database,
            crypto,
            [EmailTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{smtp_port}"), SENDER)],
            public_url=PUBLIC_URL,
            place_name=lambda _p, _r: "Lampung",
            batch=5,
            clock=lambda: datetime.now(UTC),
        )

    tried: list[int] = []
    lock = threading.Lock()

    def drain(pair: tuple[Database, AlertSender]) -> None:
        database, worker = pair
        try:
            while (done := worker.run_once()) > 0:
                with lock:
                    tried.append(done)
        finally:
            database.dispose()

    threads = [threading.Thread(target=drain, args=(sender(),)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert_each_alert_came_once(mailbox, count)
    assert sum(tried) == count


@pytest.mark.postgres_only
def test_two_serve_processes_send_each_alert_once(
    postgres_migrated: str, keys: Keys, smtp_port: int, mailbox: Mailbox, tmp_path: Path
) -> None:
    """Two real ``lapor serve`` processes on one PostgreSQL, both running their alert senders
    when the alerts are queued: each alert leaves once (``SKIP LOCKED`` leases)."""
    _truncate_all(postgres_migrated)
    servers = []
    for n in range(2):
        (tmp_path / str(n)).mkdir()
        server = Server(tmp_path / str(n), postgres_migrated, "http://127.0.0.1:9")
        server.env.update(
            {
                "LAPOR_SECRET_KEY": keys.secret_key,
                "LAPOR_PSEUDONYM_KEY": keys.pseudonym_key,
                "LAPOR_DATA_KEYS": ",".join(keys.data_keys),
                "LAPOR_SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
                "LAPOR_SMTP_FROM": SENDER,
                "LAPOR_PUBLIC_URL": PUBLIC_URL,
            }
        )
        servers.append(server)
    try:
        for server in servers:
            server.start()
        seed_critical_reports(postgres_migrated, Crypto.from_keys(keys), 40)
        assert_each_alert_came_once(mailbox, 40)
    finally:
        for server in servers:
            server.stop()
    logs = "".join(server.log.read_text() for server in servers)
    assert "sari@ppa.example" not in logs  # addresses never logged


def test_settings_refuse_a_bad_smtp_url_and_the_reporters_token_for_officers(
    tmp_path: Path, keys: Keys
) -> None:
    with pytest.raises(ConfigError, match="LAPOR_SMTP_URL"):
        load_keys(make_settings(tmp_path, keys, smtp_url="http://mail.example", smtp_from=SENDER))
    with pytest.raises(ConfigError, match="LAPOR_SMTP_FROM"):
        load_keys(make_settings(tmp_path, keys, smtp_url="smtps://mail.example"))
    with pytest.raises(ConfigError, match="another bot"):
        load_keys(make_settings(tmp_path, keys, telegram_token=TOKEN, officer_telegram_token=TOKEN))
    with pytest.raises(ConfigError, match="OFFICER_TELEGRAM_WEBHOOK_SECRET"):
        load_keys(
            make_settings(
                tmp_path,
                keys,
                officer_telegram_token=OFFICER_TOKEN,
                officer_telegram_mode="webhook",
            )
        )
    server = SmtpServer.from_url("smtp+starttls://user%40x:p%3Ass@mail.example")
    assert (server.host, server.port, server.username, server.password) == (
        "mail.example",
        587,
        "user@x",
        "p:ss",
    )
    assert SmtpServer.from_url("smtps://mail.example").port == 465
    assert SmtpServer.from_url("smtp://mail.example:2525").port == 2525


def test_runtime_without_smtp_or_officers_bot_has_no_alert_sender(desk: Desk) -> None:
    runtime: Runtime = desk.runtime
    assert runtime.alerts is None
    assert runtime.officer_bot is None


def test_an_officer_who_blocked_the_bot_is_unlinked_and_still_gets_the_email(
    desk_with_alerts: AlertDesk,
) -> None:
    desk = desk_with_alerts
    lampung_team(desk)
    blocked = {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }
    desk.bot.refusals = [(403, blocked)]
    desk.phone("reporter-3").report()
    wait_for(lambda: {a.status for a in desk.alerts()} == {AlertStatus.sent, AlertStatus.failed})
    by_channel = {str(a.channel): a for a in desk.alerts()}
    assert by_channel["telegram"].last_error == "blocked"
    assert by_channel["email"].status == AlertStatus.sent
    assert len(desk.mailbox.to(SARI_EMAIL)) == 1
    me = desk.client.get("/api/v1/me", headers=desk.login("sari")).json()
    assert me["telegram_linked"] is False


@pytest.fixture
def tls_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A self-signed certificate for ``localhost``, trusted by this process's default context
    (OpenSSL reads ``SSL_CERT_FILE``), as a mail server's would be by a CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_path))
    return cert_path, key_path


@pytest.mark.parametrize("scheme", ["smtp+starttls", "smtps"])
def test_email_goes_over_starttls_or_smtps_as_the_url_says(
    scheme: str, tls_files: tuple[Path, Path]
) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*tls_files)
    mailbox, port = Mailbox(), free_port()
    if scheme == "smtps":
        controller = Controller(mailbox, hostname="localhost", port=port, ssl_context=context)
    else:
        controller = Controller(
            mailbox, hostname="localhost", port=port, tls_context=context, require_starttls=True
        )
    controller.start()
    try:
        transport = EmailTransport(SmtpServer.from_url(f"{scheme}://localhost:{port}"), SENDER)
        outcome = transport.send(SARI_EMAIL, AlertText("[Lapor Aman] Laporan KRITIS X", "isi"))
        assert outcome.result is Result.sent, outcome.error
        if scheme == "smtp+starttls":
            plain = EmailTransport(SmtpServer.from_url(f"smtp://localhost:{port}"), SENDER)
            # The same server without STARTTLS: refused, so the test above did use it.
            assert plain.send(SARI_EMAIL, AlertText("x", "y")).result is not Result.sent
    finally:
        controller.stop()
    [mail] = mailbox.received()
    assert mail["Subject"] == "[Lapor Aman] Laporan KRITIS X"
