"""The SIMFONI case section and export in a real browser (Chromium through Playwright, as in
:mod:`tests.api.test_console_browser`): an officer completes a report's case, the values from the
reporter marked as such; a supervisor downloads the month's export from the statistics page and
it opens in openpyxl with the officer's values. Screenshots at 1366x768 and 390x844 go to
``test-artifacts/console/case-*.png``. SQLite only, like the other browser test."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from playwright.sync_api import Browser, expect

from api.main import create_app
from storage.crypto import Keys
from storage.db import Database
from storage.models import Report, Role
from storage.simfoni import WIB
from tests.api.conftest import Desk, make_settings
from tests.api.test_console_browser import Screen
from tests.api.test_console_browser import browser as browser  # noqa: PLC0414  (the fixture)
from tests.fakes import serve

STORY = "Cerita KENARI-7c1e, nomor 0812-9876-5432."


def test_an_officer_completes_the_case_and_a_supervisor_downloads_the_export(
    browser: Browser, tmp_path: Path, keys: Keys, sqlite_database: Database
) -> None:
    settings = make_settings(
        tmp_path, keys, database_url=sqlite_database.url.render_as_string(False)
    )
    app = create_app(settings, database=sqlite_database)
    with TestClient(app, raise_server_exceptions=False) as client, serve(app) as base:
        desk = Desk(client=client, runtime=app.state.runtime)
        jateng = desk.agency("UPTD-PPA-JATENG", regions=("33",))
        desk.officer("sari", jateng)
        desk.officer("kepala", jateng, Role.supervisor)
        report_id = desk.report(
            regency="33.74",
            story=STORY,
            answers={
                "victim_gender": "female",
                "category": "sexual",
                "place": "school",
                "perpetrator": "caregiver_teacher",
            },
        )
        with sqlite_database.unit() as session:
            report = session.get(Report, report_id)
            assert report is not None
            reference = report.reference

        officer = Screen(browser, base)
        officer.log_in("sari")
        officer.open(f"/console/reports/{report_id}")
        page = officer.page
        page.get_by_role("button", name="Ambil laporan ini").click()
        expect(page.get_by_text("Laporan sekarang Anda pegang.")).to_be_visible()
        section = page.locator("section#case")
        expect(section.get_by_role("heading", name="Data kasus")).to_be_visible()
        # The reporter's answers, marked as theirs: sex, place, relation and the form.
        expect(section.locator(".badge.reporter")).to_have_count(4)
        expect(section.get_by_label("Tempat Kejadian")).to_have_value("sekolah")
        expect(section.get_by_label("Hubungan Pelaku")).to_have_value("guru")
        expect(section.get_by_label("Seksual")).to_be_checked()
        expect(section.get_by_label("Usia Korban")).to_have_value("")
        officer.shoot("case-prefilled")

        section.get_by_label("Usia Korban").select_option("13-17")
        section.get_by_label("Psikis").check()
        section.get_by_label("Jenis Kelamin Pelaku").select_option("L")
        section.get_by_label("Jenis", exact=True).select_option("pengaduan")
        section.get_by_label("Tanggal", exact=True).fill("2026-11-20")
        section.get_by_role("button", name="Simpan data kasus").click()
        expect(page.get_by_text("Data kasus disimpan.")).to_be_visible()
        expect(section.get_by_label("Usia Korban")).to_have_value("13-17")
        # The forms are the officer's now; sex, place and relation are still the reporter's.
        expect(section.locator(".badge.reporter")).to_have_count(3)
        expect(section).to_contain_text("Terakhir disimpan oleh sari")
        expect(page.locator(".timeline")).to_contain_text("memperbarui data kasus")
        officer.shoot("case-saved")
        assert officer.problems == []
        officer.close()

        supervisor = Screen(browser, base)
        supervisor.log_in("kepala")
        supervisor.open("/console/stats?rows=case.place")
        stats = supervisor.page
        expect(stats.get_by_role("heading", name="Ekspor SIMFONI")).to_be_visible()
        today = datetime.now(UTC).astimezone(WIB).date().isoformat()
        stats.get_by_label("Dari tanggal").fill(today)
        stats.get_by_label("Sampai tanggal").fill(today)
        stats.get_by_label("Format").select_option("xlsx")
        supervisor.shoot("case-stats-export")
        with stats.expect_download() as info:
            stats.get_by_role("button", name="Unduh ekspor").click()
        download = info.value
        assert download.suggested_filename == f"simfoni-{today}-{today}.xlsx"
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
        sheet = load_workbook(saved).active
        assert sheet is not None
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:2] == ("Kode", "Tanggal Lapor")
        assert len(rows) == 2
        kode, _day, province, regency, age, sex, forms, place, relation, services, status = rows[1]
        assert (kode, province, regency) == (reference, "Jawa Tengah", "Kota Semarang")
        assert (age, sex, forms, place, relation) == (
            "13-17",
            "Perempuan",
            "Psikis; Seksual",
            "Sekolah",
            "Guru",
        )
        assert services == "Pengaduan (2026-11-20)"
        assert status == "Diambil"
        assert supervisor.problems == []
        supervisor.close()
