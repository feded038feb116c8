"""The console in a real browser: Debian's Chromium, headless, driven by Playwright, against the
app under a real uvicorn on loopback. A report filed through the signed WhatsApp webhook appears
in an open queue without a reload; the officer claims it, refers it, writes to the reporter (the
message reaches the fake Graph API), logs out; a supervisor reads it all in the audit log.

Screenshots of every page, at 1366x768 and 390x844, go to ``test-artifacts/console/``.
SQLite only: the browser adds nothing the HTTP tests do not check on both backends.
Without Chromium the test is skipped, unless ``LAPOR_REQUIRE_BROWSER=1`` (CI): then it fails.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Response,
    ViewportSize,
    expect,
    sync_playwright,
)
from sqlmodel import select

from storage.crypto import Keys
from storage.db import Database
from storage.models import Report, Role, Service
from tests.api.conftest import PASSWORD, Desk
from tests.api.test_whatsapp_webhook import GraphPhone, whatsapp_app
from tests.fakes import FakeGraph, serve
from tests.support import wait_until_sent

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
LAPTOP = ViewportSize(width=1366, height=768)
PHONE = ViewportSize(width=390, height=844)
WAIT_MS = 20_000
MESSAGE = "Terima kasih sudah melapor. Kami sudah menghubungi LBH APIK untuk bantuan hukum."


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing (Debian: apt-get install chromium)"
        if os.environ.get("LAPOR_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{reason} (LAPOR_REQUIRE_BROWSER=1)", pytrace=False)
        pytest.skip(reason)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


class Screen:
    """One officer's browser tab; records what the page complains about (a CSP violation shows
    up as a console error) and takes each screenshot at both widths."""

    def __init__(self, browser: Browser, base: str) -> None:
        self.context = browser.new_context(viewport=LAPTOP, locale="id-ID")
        self.page: Page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        # A failed load is recorded with its address by _response.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status} {response.url}")

    def open(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}")

    def shoot(self, name: str) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for label, size in (("1366x768", LAPTOP), ("390x844", PHONE)):
            self.page.set_viewport_size(size)
            self.page.screenshot(path=ARTIFACTS / f"{name}-{label}.png", full_page=True)
        self.page.set_viewport_size(LAPTOP)

    def log_in(self, username: str) -> None:
        """With the keyboard alone: the username field has the focus, Tab, Enter."""
        self.open("/console/login")
        keyboard = self.page.keyboard
        expect(self.page.get_by_label("Nama pengguna")).to_be_focused()
        keyboard.type(username)
        keyboard.press("Tab")
        expect(self.page.get_by_label("Kata sandi")).to_be_focused()
        keyboard.type(PASSWORD)
        keyboard.press("Enter")
        expect(self.page.get_by_role("heading", name="Antrean laporan")).to_be_visible()

    def log_out(self) -> None:
        self.page.get_by_role("button", name="Keluar").click()
        expect(self.page.get_by_text("Anda sudah keluar.")).to_be_visible()

    def close(self) -> None:
        self.context.close()


def test_an_officer_takes_a_whatsapp_report_from_the_live_queue_to_the_reporter(
    browser: Browser, tmp_path: Path, keys: Keys, sqlite_database: Database
) -> None:
    graph = FakeGraph()
    with serve(graph.app()) as graph_base:
        app = whatsapp_app(tmp_path, keys, sqlite_database, f"{graph_base}/v23.0")
        # The TestClient runs the app's lifespan (the outbox sender); uvicorn serves the browser.
        with TestClient(app, raise_server_exceptions=False) as client, serve(app) as base:
            desk = Desk(client=client, runtime=app.state.runtime)
            lampung = desk.agency("UPTD-PPA-LAMPUNG", regions=("18",))
            desk.officer("sari", lampung)
            desk.officer("kepala", lampung, Role.supervisor)
            desk.officer("admin", lampung, Role.admin)
            officer = Screen(browser, base)
            officer.open("/console/login")
            officer.shoot("login")
            officer.log_in("sari")
            expect(officer.page.get_by_text("Tidak ada laporan yang cocok.")).to_be_visible()
            officer.shoot("queue-empty")
            # A mark on the page itself: it survives only if the page is never reloaded.
            officer.page.evaluate("window.stillTheSamePage = true")

            phone = GraphPhone(app.state.runtime.inbox, client, graph)
            phone.report(needs=("legal", "counselling"), contact="chat")
            with sqlite_database.unit() as session:
                reference = session.exec(select(Report.reference)).one()

            row = officer.page.get_by_role("link", name=reference)
            expect(row).to_be_visible(timeout=WAIT_MS)
            assert officer.page.evaluate("window.stillTheSamePage") is True
            # The keyboard keeps its place across a refresh of the rows (marked, to see it
            # replaced).
            row.focus()
            officer.page.evaluate("document.getElementById('queue-rows').dataset.old = 'yes'")
            expect(officer.page.locator("#queue-rows[data-old]")).to_have_count(0, timeout=WAIT_MS)
            expect(row).to_be_focused()
            expect(officer.page.locator("#queue-rows")).to_contain_text("Mesuji")
            officer.shoot("queue")

            row.click()
            page = officer.page
            expect(page.get_by_role("heading", name=f"Laporan {reference}")).to_be_visible()
            expect(page.locator(".answers")).to_contain_text("Psikis (diancam dll.)")
            expect(page.locator(".story")).not_to_contain_text("0812-3456-7890")
            officer.shoot("report-new")

            page.get_by_role("button", name="Ambil laporan ini").click()
            expect(page.get_by_text("Laporan sekarang Anda pegang.")).to_be_visible()

            expect(page.get_by_text("Pelapor meminta bantuan:")).to_be_visible()
            page.get_by_label("Layanan").select_option("legal")
            page.get_by_label("Lembaga tujuan").fill("LBH APIK Lampung")
            page.get_by_role("button", name="Buat rujukan").click()
            expect(page.get_by_text("Rujukan dicatat.")).to_be_visible()
            expect(page.locator(".timeline")).to_contain_text("LBH APIK Lampung")

            page.get_by_label("Pesan ke pelapor").fill(MESSAGE)
            page.get_by_role("button", name="Kirim pesan").click()
            expect(page.get_by_text("Pesan dikirim ke chat pelapor.")).to_be_visible()
            wait_until_sent(sqlite_database)
            assert any(MESSAGE in text for text in graph.texts())
            expect(page.locator(".timeline")).to_contain_text("pesan ke pelapor")
            officer.shoot("report-handled")

            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", name=f"Report {reference}")).to_be_visible()
            expect(page.locator(".answers")).to_contain_text("Emotional (threats etc.)")
            officer.shoot("report-english")
            page.get_by_role("link", name="Bahasa Indonesia").click()

            # Enough reports for a chart with published and hidden counts (and some overdue ones
            # for the supervisor's page).
            hours_ago = datetime.now(UTC) - timedelta(hours=30)
            for category, count in (("physical", 12), ("neglect", 11), ("sexual", 3)):
                for _ in range(count):
                    desk.report(province="18", category=category, created_at=hours_ago)
            officer.open("/console/stats")
            chart = page.locator("svg.chart")
            expect(chart).to_contain_text("12")
            expect(chart).to_contain_text("11")
            # The WhatsApp report's 1 and the 3 are hidden (two hidden counts: neither follows
            # from the total).
            expect(chart.locator("text.value", has_text="< 10")).to_have_count(2)
            officer.shoot("stats")
            assert officer.problems == []
            missing = "/console/reports/00000000-0000-0000-0000-000000000000"
            officer.open(missing)
            expect(page.get_by_text("Halaman atau laporan tidak ditemukan")).to_be_visible()
            officer.shoot("not-found")
            # The page's own 404, and nothing else (its style sheet and script load).
            assert officer.problems == [f"404 {base}{missing}"]
            officer.problems.clear()
            officer.open("/console/queue")
            officer.log_out()
            officer.shoot("logged-out")
            assert officer.problems == []
            officer.close()

            supervisor = Screen(browser, base)
            supervisor.log_in("kepala")
            supervisor.open("/console/audit")
            log = supervisor.page.locator("table.audit")
            for action in ("report.claim", "report.referral", "report.message", "auth.logout"):
                expect(log).to_contain_text(action)
            supervisor.shoot("audit")
            supervisor.open("/console/team")
            breaches = supervisor.page.locator("section", has_text="Lewat batas klaim")
            expect(breaches.locator("tr.is-overdue")).to_have_count(26)
            supervisor.shoot("team")
            # A session gone (here: its cookie) sends an open queue to the login by itself.
            supervisor.open("/console/queue")
            supervisor.context.clear_cookies()
            expect(supervisor.page.get_by_text("Sesi berakhir")).to_be_visible(timeout=WAIT_MS)
            assert supervisor.page.url.endswith("/console/login?expired=1")
            assert supervisor.problems == []
            supervisor.close()

            admin = Screen(browser, base)
            admin.log_in("admin")
            admin.open("/console/admin")
            expect(admin.page.get_by_text("UPTD-PPA-LAMPUNG").first).to_be_visible()
            admin.shoot("admin")
            assert admin.problems == []
            admin.close()


def test_a_referral_goes_to_another_agency_which_accepts_and_finishes_it(
    browser: Browser, tmp_path: Path, keys: Keys, sqlite_database: Database
) -> None:
    app = whatsapp_app(tmp_path, keys, sqlite_database)
    with TestClient(app, raise_server_exceptions=False) as client, serve(app) as base:
        desk = Desk(client=client, runtime=app.state.runtime)
        holder = desk.agency("UPTD-PPA-JATENG", regions=("33",))  # first: the report routes here
        dinsos = desk.agency("DINSOS-JATENG", regions=("33",), services=(Service.psychosocial,))
        desk.officer("sari", holder)
        desk.officer("rina", dinsos)
        report_id = desk.report(province="33", needs=("counselling", "legal"))
        with sqlite_database.unit() as session:
            reference = session.exec(select(Report.reference)).one()

        sender = Screen(browser, base)
        sender.log_in("sari")
        sender.open(f"/console/reports/{report_id}")
        page = sender.page
        page.get_by_role("button", name="Ambil laporan ini").click()
        expect(page.get_by_text("Laporan sekarang Anda pegang.")).to_be_visible()
        # The directory first (agencies offering what the reporter agreed to, for her region).
        page.get_by_label("Lembaga penerima").select_option("psychosocial:DINSOS-JATENG")
        page.locator("#referral-to-note").fill("Anak perlu konseling trauma.")
        page.locator("#refer-agency").click()
        expect(page.get_by_text("Rujukan dicatat.")).to_be_visible()
        expect(page.locator("#referrals .referrals")).to_contain_text("menunggu")
        sender.shoot("referral-sent")

        receiver = Screen(browser, base)
        receiver.log_in("rina")
        receiver.page.get_by_role("link", name="Rujukan masuk").click()
        row = receiver.page.locator("tr", has_text=reference)
        expect(row).to_contain_text("menunggu")
        expect(row).to_contain_text("UPTD-PPA-JATENG")
        receiver.shoot("referrals-incoming")
        receiver.page.get_by_role("link", name=reference).click()
        mine = receiver.page
        expect(mine.get_by_role("heading", name=f"Rujukan laporan {reference}")).to_be_visible()
        expect(mine.get_by_text("Anak perlu konseling trauma.")).to_be_visible()
        receiver.shoot("referral-pending")
        mine.get_by_role("button", name="Terima rujukan").click()
        expect(mine.get_by_text("Rujukan diterima.")).to_be_visible()
        mine.get_by_label("Hasil").fill("Empat sesi konseling.")
        mine.get_by_role("button", name="Tandai selesai").click()
        expect(mine.get_by_text("Rujukan ditandai selesai.")).to_be_visible()
        receiver.shoot("referral-done")
        assert receiver.problems == []
        receiver.close()

        sender.open(f"/console/reports/{report_id}")
        expect(page.locator("#referrals .referrals")).to_contain_text("selesai")
        expect(page.locator(".timeline")).to_contain_text("Empat sesi konseling.")
        sender.shoot("report-referral-done")
        assert sender.problems == []
        sender.close()
