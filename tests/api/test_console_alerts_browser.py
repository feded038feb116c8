"""The console's duty toggle and notifications page in Chromium (Playwright), at laptop and phone
widths: an officer goes on duty from the header, makes a Telegram link code (with its link and
a QR code drawn on the server), links the officers' bot with it and goes off duty again.
Screenshots go to ``test-artifacts/console/``. SQLite only, like the other browser test."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Browser, expect

from api.main import create_app
from storage.crypto import Keys
from storage.db import Database
from tests.api.test_alerts import (
    OFFICER_TOKEN,
    SARI_CHAT,
    SARI_EMAIL,
    AlertDesk,
    alert_settings,
    free_port,
)
from tests.api.test_console_browser import Screen, browser
from tests.fake_telegram import FakeBotApi
from tests.fakes import serve

__all__ = ["browser"]  # the module's Chromium fixture, shared

OFFICER_BOT = {"id": 900000002, "is_bot": True, "first_name": "Petugas", "username": "petugas_bot"}


def test_an_officer_goes_on_duty_and_links_the_officers_bot_from_the_console(
    browser: Browser, tmp_path: Path, keys: Keys, sqlite_database: Database
) -> None:
    fake = FakeBotApi(token=OFFICER_TOKEN, user=OFFICER_BOT)
    with serve(fake.app()) as bot_base:
        settings = alert_settings(tmp_path, keys, sqlite_database, free_port(), bot_base)
        app = create_app(settings, database=sqlite_database)
        with TestClient(app, raise_server_exceptions=False) as client, serve(app) as base:
            desk = AlertDesk(client=client, runtime=app.state.runtime, bot=fake)
            officer_id = desk.officer("sari", desk.agency("UPTD-PPA-LAMPUNG", regions=("18",)))
            desk.reach(officer_id, address=SARI_EMAIL)
            screen = Screen(browser, base)
            page = screen.page
            screen.log_in("sari")
            header = page.locator("header.top")
            expect(header).to_contain_text("Tidak piket")
            screen.shoot("duty-off")

            page.get_by_role("button", name="Mulai piket").click()
            expect(page.get_by_role("heading", name="Antrean laporan")).to_be_visible()
            expect(header).to_contain_text("Sedang piket")
            assert client.get("/api/v1/me", headers=desk.login("sari")).json()["on_duty"] is True
            screen.shoot("duty-on")

            page.get_by_role("link", name="Pemberitahuan").click()
            expect(page.get_by_role("heading", name="Pemberitahuan")).to_be_visible()
            expect(page.locator("#email")).to_have_text(SARI_EMAIL)
            expect(page.locator("#telegram")).to_contain_text("Belum terhubung")
            page.get_by_role("button", name="Buat kode penghubung").click()
            code = page.locator("#link-code").inner_text()
            assert len(code) == 10
            expect(page.locator("#link-url")).to_have_text(f"https://t.me/petugas_bot?start={code}")
            qr = page.get_by_role("img", name="Kode QR untuk tautan ke bot petugas")
            expect(qr).to_be_visible()
            assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
            screen.shoot("notifications-code")

            assert desk.tell_bot(SARI_CHAT, f"/start {code}") == 200
            screen.open("/console/notifications")
            expect(page.locator("#telegram")).to_contain_text("Terhubung ke bot petugas")
            screen.shoot("notifications-linked")

            # Off duty from this page: back to the same page.
            page.get_by_role("button", name="Selesai piket").click()
            expect(page.get_by_role("heading", name="Pemberitahuan")).to_be_visible()
            expect(header).to_contain_text("Tidak piket")
            page.get_by_role("link", name="English").click()
            expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
            expect(header).to_contain_text("Off duty")
            screen.shoot("notifications-english")
            assert screen.problems == []
            screen.close()
