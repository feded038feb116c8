"""WhatsApp after the 24-hour window (CONTRACT §6), end to end: the reporter writes through the
signed webhook, officers write through the triage API, the outbox sender delivers to a fake Graph
API that enforces the window per recipient and checks template payloads. One clock, injected
into the inbox, the sender, the window keeper and the fake, stands in for the hours passing."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlmodel import col, select

from api.main import create_app
from api.runtime import Runtime
from bot.messages import OutboundMessage
from bot.sender import OutboxSender, WhatsAppTransport
from bot.window import Windows
from storage.agencies import create_agency
from storage.crypto import Keys
from storage.db import Database
from storage.models import OutboxMessage, OutboxStatus, Report, Role, WhatsAppWindow
from tests.api.conftest import Desk, make_settings
from tests.api.test_console import console_login
from tests.api.test_whatsapp_webhook import PROFILE_NAME, WA_ID, GraphPhone, whatsapp_settings
from tests.fakes import FakeGraph, graph_error, serve
from tests.support import Phone

TEMPLATE = "lapor_update"
BACKUP = "lapor_update_2"
# Inside WhatsApp's 24 hours but past our own 23 h 30 min: only our clock can close the window.
NEARLY_A_DAY = timedelta(hours=23, minutes=31)
WAITING = "menunggu pelapor menulis"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, delta: timedelta) -> None:
        self.now += delta


class MetaPhone(GraphPhone):
    """A reporter on WhatsApp (each message opens their window at the fake Graph API too) who
    can tap our template's button."""

    def outbox(self) -> list[OutboundMessage]:
        return Phone.outbox(self)  # the rows: the test runs the sender's rounds itself

    def tap_template_button(self) -> bool:
        """The quick-reply button of our template: its payload is the button's text."""
        body = {"from": self.identity, "id": self.wamid(), "timestamp": "1767225600"}
        button = {"payload": "Lihat pembaruan", "text": "Lihat pembaruan"}
        tap = {"context": {"from": "6280000000000", "id": "wamid.BOT00099"}}
        return self.post({**body, **tap, "type": "button", "button": button}) == 200


@dataclass
class Scene:
    runtime: Runtime
    client: TestClient
    graph: FakeGraph
    clock: Clock
    phone: MetaPhone
    desk: Desk

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def sender(self) -> OutboxSender:
        assert self.runtime.sender is not None
        return self.runtime.sender

    def drain(self) -> int:
        """Sender rounds until nothing is due; how many sends it tried."""
        total = 0
        while tried := self.sender.run_once():
            total += tried
        return total

    def report(self) -> str:
        """A reporter files a report by WhatsApp, choosing to be answered in the chat; an
        officer of the agency claims it. The report's id."""
        self.phone.report(contact="chat")
        self.drain()
        with self.database.unit() as session:
            report_id = session.exec(select(Report.id)).one()
        response = self.client.post(f"/api/v1/reports/{report_id}/claim", headers=self.officer)
        assert response.status_code == 200, response.text
        return report_id

    @property
    def officer(self) -> dict[str, str]:
        return self.desk.login("sari")

    def officer_writes(self, report_id: str, *texts: str) -> None:
        headers = self.officer
        for text in texts:
            response = self.client.post(
                f"/api/v1/reports/{report_id}/messages", json={"text": text}, headers=headers
            )
            assert response.status_code == 201, response.text
            assert response.json()["pushed"] is True
        # The API writes on the real clock: the test's clock must not be behind it.
        self.clock.now = max(self.clock.now, datetime.now(UTC))

    def statuses(self) -> list[OutboxStatus]:
        with self.database.unit() as session:
            rows = session.exec(select(OutboxMessage.status).order_by(col(OutboxMessage.id)))
            return [OutboxStatus(status) for status in rows.all()]

    def officer_texts(self, *texts: str) -> list[str]:
        """Which of ``texts`` the reporter got, in the order they got them (repeats included)."""
        return [text for body in self.graph.texts() for text in texts if text in body]


def counted(result: str, kind: str) -> float:
    labels = {"channel": "whatsapp", "result": result, "kind": kind}
    return REGISTRY.get_sample_value("lapor_outbound_messages_total", labels) or 0.0


@pytest.fixture
def scene(tmp_path: Path, keys: Keys, database: Database) -> Iterator[Callable[..., Scene]]:
    """A scene maker: settings as keyword arguments (templates, mostly)."""
    with ExitStack() as stack:

        def make(**settings: Any) -> Scene:
            clock = Clock()
            graph = FakeGraph(enforce_window=True, clock=clock)
            base = stack.enter_context(serve(graph.app()))
            values = {**whatsapp_settings(f"{base}/v23.0"), **settings}
            app = create_app(
                make_settings(
                    tmp_path, keys, database_url=database.url.render_as_string(False), **values
                ),
                database=database,
            )
            runtime: Runtime = app.state.runtime
            # Not entered, so no lifespan: the test runs the sender's rounds itself, on its clock.
            client = TestClient(app, raise_server_exceptions=False)
            assert runtime.sender is not None
            runtime.inbox.clock = clock
            runtime.sender.clock = clock
            for transport in runtime.sender.transports:
                if isinstance(transport, WhatsAppTransport) and transport.windows is not None:
                    transport.windows.clock = clock
            desk = Desk(client=client, runtime=runtime)
            with database.unit() as session:
                agency = create_agency(
                    "PPA-LAMPUNG",
                    "UPTD PPA Lampung",
                    regions=["18"],
                    national=False,
                    session=session,
                )
                assert agency.id is not None
            desk.officer("sari", agency.id, Role.officer)
            return Scene(
                runtime, client, graph, clock, MetaPhone(runtime.inbox, client, graph), desk
            )

        yield make


def approved(*names: str) -> dict[tuple[str, str], str]:
    return {(name, "id"): "APPROVED" for name in names}


def test_a_closed_window_sends_the_template_once_for_several_held_messages(
    scene: Callable[..., Scene],
) -> None:
    s = scene(whatsapp_template=TEMPLATE)
    s.graph.templates = approved(TEMPLATE)
    report_id = s.report()
    s.clock.pass_(NEARLY_A_DAY)
    before = counted("sent", "template")
    s.officer_writes(report_id, "Pesan satu.", "Pesan dua.", "Pesan tiga.")
    s.drain()
    assert s.graph.templates_sent() == [TEMPLATE]
    template = s.graph.sent[-1]
    assert template["to"] == WA_ID
    assert template["template"] == {"name": TEMPLATE, "language": {"code": "id"}}
    assert s.officer_texts("Pesan") == []
    assert s.statuses()[-3:] == [OutboxStatus.held] * 3
    assert counted("sent", "template") == before + 1
    page = console_login(s.client.app, "sari").get(f"/console/reports/{report_id}")  # type: ignore[arg-type]
    assert page.text.count("pelapor sudah diberi tahu lewat WhatsApp") == 3
    # Later messages in the same closed window wait too, without another template.
    s.clock.pass_(timedelta(hours=5))
    s.officer_writes(report_id, "Pesan empat.")
    s.drain()
    assert s.graph.templates_sent() == [TEMPLATE]
    assert s.graph.refused == []  # our own clock kept every free-form send from being tried


def test_the_reporter_tapping_the_template_button_gets_the_held_messages_in_order_once(
    scene: Callable[..., Scene],
) -> None:
    s = scene(whatsapp_template=TEMPLATE)
    s.graph.templates = approved(TEMPLATE)
    report_id = s.report()
    s.clock.pass_(timedelta(hours=30))
    s.officer_writes(report_id, "Pesan satu.", "Pesan dua.", "Pesan tiga.")
    s.drain()
    assert s.graph.templates_sent() == [TEMPLATE]
    s.clock.pass_(timedelta(hours=10))
    assert s.phone.tap_template_button()
    s.drain()
    texts = ("Pesan satu.", "Pesan dua.", "Pesan tiga.")
    assert s.officer_texts(*texts) == list(texts)
    # The tap is answered like a greeting, after the messages it was for.
    assert not s.graph.texts()[-1].startswith("Pesan")
    assert set(s.statuses()) == {OutboxStatus.sent}
    # Writing again delivers nothing twice; the open window takes free-form messages at once.
    s.phone.type("halo")
    s.officer_writes(report_id, "Pesan empat.")
    s.drain()
    assert s.officer_texts(*texts, "Pesan empat.") == [*texts, "Pesan empat."]
    assert s.graph.templates_sent() == [TEMPLATE]
    with s.database.unit() as session:
        window = session.exec(select(WhatsAppWindow)).one()
    assert (window.held_since, window.notice) == (None, None)


def test_a_131047_from_graph_sends_the_template_even_when_our_clock_says_open(
    scene: Callable[..., Scene],
) -> None:
    s = scene(whatsapp_template=TEMPLATE)
    s.graph.templates = approved(TEMPLATE)
    report_id = s.report()
    # Meta saw the reporter's last message longer ago than we did (a late delivery, a clock).
    s.graph.last_inbound[WA_ID] = s.clock() - timedelta(hours=25)
    s.officer_writes(report_id, "Pesan satu.")
    s.drain()
    assert [body["type"] for body in s.graph.refused] == ["text"], s.graph.sent[-3:]
    assert s.graph.templates_sent() == [TEMPLATE]
    assert s.statuses()[-1] == OutboxStatus.held
    # The window is known closed now: the next message waits without trying Graph again.
    s.officer_writes(report_id, "Pesan dua.")
    s.drain()
    assert len(s.graph.refused) == 1
    assert s.graph.templates_sent() == [TEMPLATE]
    s.phone.type("ok")
    s.drain()
    assert s.officer_texts("Pesan satu.", "Pesan dua.") == ["Pesan satu.", "Pesan dua."]


@pytest.mark.parametrize("status", ["MISSING", "PAUSED", "DISABLED"])
def test_a_refused_template_falls_back_to_the_backup(
    scene: Callable[..., Scene], status: str
) -> None:
    s = scene(whatsapp_template=TEMPLATE, whatsapp_template_backup=BACKUP)
    s.graph.templates = approved(BACKUP)
    if status != "MISSING":
        s.graph.templates[(TEMPLATE, "id")] = status
    report_id = s.report()
    s.clock.pass_(NEARLY_A_DAY)
    failed, sent = counted("failed", "template"), counted("sent", "template")
    s.officer_writes(report_id, "Pesan satu.", "Pesan dua.")
    s.drain()
    assert [body["template"]["name"] for body in s.graph.refused] == [TEMPLATE]
    assert s.graph.templates_sent() == [BACKUP]
    assert (counted("failed", "template"), counted("sent", "template")) == (failed + 1, sent + 1)
    assert s.statuses()[-2:] == [OutboxStatus.held] * 2


def test_when_both_templates_fail_the_console_shows_the_message_waiting_and_one_warning_is_logged(
    scene: Callable[..., Scene], caplog: pytest.LogCaptureFixture
) -> None:
    s = scene(whatsapp_template=TEMPLATE, whatsapp_template_backup=BACKUP)
    s.graph.templates = {(TEMPLATE, "id"): "PAUSED", (BACKUP, "id"): "DISABLED"}
    report_id = s.report()
    s.clock.pass_(NEARLY_A_DAY)
    s.officer_writes(report_id, "Pesan satu.", "Pesan dua.")
    with caplog.at_level(logging.INFO):
        s.drain()
        s.officer_writes(report_id, "Pesan tiga.")
        s.drain()
    assert s.graph.templates_sent() == []
    assert len(s.graph.refused) == 2  # each template once, for three held messages
    assert s.statuses()[-3:] == [OutboxStatus.held] * 3
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.__dict__.get("event") for r in warnings] == ["template_refused"]
    reporter_key = s.runtime.inbox.reporter_key(s.phone.channel, WA_ID)
    logged = caplog.text + " ".join(str(r.__dict__) for r in caplog.records)
    for secret in (WA_ID, PROFILE_NAME, reporter_key):
        assert secret not in logged
    browser = console_login(s.client.app, "sari")  # type: ignore[arg-type]
    page = browser.get(f"/console/reports/{report_id}")
    assert page.status_code == 200
    assert page.text.count(WAITING) == 3
    # The reporter writes: the messages go, and the page no longer says they wait.
    s.phone.type("halo")
    s.drain()
    assert s.officer_texts("Pesan") == ["Pesan"] * 3
    assert WAITING not in browser.get(f"/console/reports/{report_id}").text


def test_a_throttled_template_is_retried_with_backoff_and_sent_once(
    scene: Callable[..., Scene],
) -> None:
    s = scene(whatsapp_template=TEMPLATE)
    s.graph.templates = approved(TEMPLATE)
    report_id = s.report()
    s.clock.pass_(NEARLY_A_DAY)
    retried = counted("retry", "template")
    s.graph.refusals = [(400, graph_error(130429, "Rate limit hit"))]
    s.officer_writes(report_id, "Pesan satu.")
    assert s.drain() == 1
    with s.database.unit() as session:
        row = session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id).desc())).first()
    assert row is not None
    assert (row.status, row.attempts, row.last_error) == (
        OutboxStatus.pending,
        1,
        "template:graph:130429",
    )
    assert row.next_attempt_at > s.clock()
    assert counted("retry", "template") == retried + 1
    assert s.drain() == 0  # not before its time
    s.clock.pass_(timedelta(minutes=11))
    s.drain()
    assert s.graph.templates_sent() == [TEMPLATE]
    assert s.statuses()[-1] == OutboxStatus.held


def test_without_a_template_a_message_waits_for_the_reporter_as_before(
    scene: Callable[..., Scene],
) -> None:
    s = scene()
    report_id = s.report()
    sent_before = len(s.graph.sent)
    s.clock.pass_(timedelta(hours=26))
    s.officer_writes(report_id, "Pesan satu.")
    s.drain()
    assert len(s.graph.sent) == sent_before
    assert s.graph.refused == []
    assert s.statuses()[-1] == OutboxStatus.held
    browser = console_login(s.client.app, "sari")  # type: ignore[arg-type]
    assert browser.get(f"/console/reports/{report_id}").text.count(WAITING) == 1
    s.phone.type("halo")
    s.drain()
    assert s.officer_texts("Pesan satu.") == ["Pesan satu."]


def test_two_senders_at_once_send_one_template_for_a_closed_window(
    scene: Callable[..., Scene],
) -> None:
    s = scene(whatsapp_template=TEMPLATE)
    s.graph.templates = approved(TEMPLATE)
    report_id = s.report()
    s.clock.pass_(NEARLY_A_DAY)
    s.officer_writes(report_id, *(f"Pesan {n}." for n in range(12)))
    first = s.sender.transports[0]
    assert isinstance(first, WhatsAppTransport)
    assert first.windows is not None
    senders = [s.sender]
    for _ in range(3):
        windows = Windows(
            s.database, s.runtime.crypto.hasher, first.windows.templates, clock=s.clock
        )
        transport = WhatsAppTransport(
            first.url.rsplit("/", 2)[0], "100000000000001", "graph-token", windows=windows
        )
        senders.append(
            OutboxSender(s.database, s.runtime.crypto, [transport], batch=1, clock=s.clock)
        )
    s.sender.batch = 1

    def drain(sender: OutboxSender) -> int:
        total = 0
        while tried := sender.run_once():
            total += tried
        return total

    with ThreadPoolExecutor(max_workers=len(senders)) as pool:
        assert sum(pool.map(drain, senders)) == 12
    assert s.graph.templates_sent() == [TEMPLATE]
    assert s.statuses()[-12:] == [OutboxStatus.held] * 12
