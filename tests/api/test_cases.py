"""The SIMFONI case record and export (CONTRACT §8), over HTTP on both backends: the case starts
from the reporter's answers, officers complete it (validated, scoped, audited, on the timeline),
supervisors export it as CSV and XLSX, read back here with ``csv`` and ``openpyxl``, and the
statistics count it with the same suppression."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from openpyxl import load_workbook
from sqlmodel import select

from storage.models import Report, Role
from storage.simfoni import COLUMNS
from tests.api.conftest import Desk
from tests.api.test_console import console_login, csrf_of

STORY_CANARY = "KENARI-CERITA-7c1e"
PHONE_CANARY = "0812-9876-5432"
FILE_CANARY = b"KENARI-BERKAS-91ab"
CHILD_AT_HOME = {
    "victim_gender": "female",
    "category": "sexual",
    "place": "home",
    "perpetrator": "family",
}


@pytest.fixture
def team(team: dict[str, int], desk: Desk) -> dict[str, int]:
    """The console tests' team, and a supervisor in Lampung (who exports Lampung's cases only)."""
    lampung = desk.officer("kepala-lampung", team["other"], Role.supervisor)
    return {**team, "kepala-lampung": lampung}


def claimed(desk: Desk, report_id: str, username: str = "sari") -> dict[str, str]:
    headers = desk.login(username)
    response = desk.client.post(f"/api/v1/reports/{report_id}/claim", headers=headers)
    assert response.status_code == 200, response.text
    return headers


def put_case(desk: Desk, report_id: str, headers: dict[str, str], body: dict[str, Any]) -> Any:
    return desk.client.put(f"/api/v1/reports/{report_id}/case", json=body, headers=headers)


def case_of(desk: Desk, report_id: str, headers: dict[str, str]) -> dict[str, Any]:
    response = desk.client.get(f"/api/v1/reports/{report_id}", headers=headers)
    assert response.status_code == 200, response.text
    case: dict[str, Any] = response.json()["case"]
    return case


def test_the_case_starts_from_the_answers_that_mean_one_simfoni_value(
    desk: Desk, team: dict[str, int]
) -> None:
    mapped = desk.report(answers=CHILD_AT_HOME)
    unmapped = desk.report(
        category="online",
        answers={"victim_gender": "skip", "place": "online", "perpetrator": "partner"},
    )
    headers = desk.login("sari")
    case = case_of(desk, mapped, headers)
    assert case["victim_sex"] == "P"
    assert case["violence_forms"] == ["seksual"]
    assert case["place"] == "rumah_tangga"
    assert case["perpetrator_relation"] == "keluarga"
    # The flow knows "child", not an age band; nobody told the perpetrator's sex.
    assert case["victim_age_band"] is None
    assert case["perpetrator_sex"] is None
    assert case["services_given"] == []
    assert sorted(case["from_reporter"]) == [
        "perpetrator_relation",
        "place",
        "victim_sex",
        "violence_forms",
    ]
    assert case["updated_at"] is None
    empty = case_of(desk, unmapped, headers)
    assert empty["from_reporter"] == []
    assert empty["violence_forms"] == []
    assert empty["place"] is None
    assert empty["perpetrator_relation"] is None


def test_saving_the_case_is_audited_on_the_timeline_and_keeps_the_reporters_marks(
    desk: Desk, team: dict[str, int]
) -> None:
    report_id = desk.report(answers=CHILD_AT_HOME)
    headers = claimed(desk, report_id)
    body = {
        "victim_age_band": "13-17",
        "violence_forms": ["psikis", "seksual", "psikis"],
        "perpetrator_sex": "L",
        "services_given": [
            {"service": "kesehatan", "date": "2026-11-21"},
            {"service": "pengaduan", "date": "2026-11-20"},
        ],
    }
    response = put_case(desk, report_id, headers, body)
    assert response.status_code == 200, response.text
    saved = response.json()
    assert saved["violence_forms"] == ["psikis", "seksual"]  # SIMFONI's order, once each
    assert saved["services_given"] == [
        {"service": "pengaduan", "date": "2026-11-20"},
        {"service": "kesehatan", "date": "2026-11-21"},
    ]
    assert saved["updated_by"] == "sari"
    assert saved["updated_at"] is not None
    # What the officer changed is theirs now; what they left is still the reporter's.
    assert sorted(saved["from_reporter"]) == ["perpetrator_relation", "place", "victim_sex"]
    assert case_of(desk, report_id, headers) == saved

    # Emptying a field keeps it empty: the reporter's answer does not come back.
    emptied = put_case(desk, report_id, headers, {"place": None}).json()
    assert emptied["place"] is None
    assert "place" not in emptied["from_reporter"]
    assert case_of(desk, report_id, headers)["place"] is None

    timeline = desk.client.get(f"/api/v1/reports/{report_id}/timeline", headers=headers).json()
    changes = [item for item in timeline["items"] if item["kind"] == "case"]
    assert [item["detail"]["fields"] for item in changes] == [
        "victim_age_band, violence_forms, perpetrator_sex, services_given",
        "place",
    ]
    assert {item["officer"] for item in changes} == {"sari"}
    log = desk.client.get(
        "/api/v1/audit", params={"report_id": report_id}, headers=desk.login("kepala")
    ).json()
    entries = [item for item in log["items"] if item["action"] == "report.case"]
    assert [entry["detail"]["fields"] for entry in entries] == [
        "place",
        "victim_age_band, violence_forms, perpetrator_sex, services_given",
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"victim_age_band": "10-15"},
        {"victim_age_band": "child"},
        {"victim_sex": "F"},
        {"violence_forms": ["seksual", "perundungan"]},
        {"violence_forms": "seksual"},
        {"place": "home"},
        {"perpetrator_relation": "stranger"},
        {"services_given": [{"service": "konseling", "date": "2026-11-20"}]},
        {"services_given": [{"service": "kesehatan", "date": "kemarin"}]},
        {"story": "tidak boleh"},
    ],
)
def test_an_unknown_band_form_or_field_is_refused_with_422_and_nothing_saved(
    desk: Desk, team: dict[str, int], body: dict[str, Any]
) -> None:
    report_id = desk.report(answers=CHILD_AT_HOME)
    headers = claimed(desk, report_id)
    response = put_case(desk, report_id, headers, body)
    assert response.status_code == 422
    assert isinstance(response.json()["detail"], list)
    assert case_of(desk, report_id, headers)["updated_at"] is None


def test_another_agencys_report_is_404_and_only_the_holder_or_a_supervisor_saves(
    desk: Desk, team: dict[str, int]
) -> None:
    report_id = desk.report(answers=CHILD_AT_HOME)
    body = {"victim_age_band": "6-12"}
    for outsider in ("lampung", "kepala-lampung"):
        response = put_case(desk, report_id, desk.login(outsider), body)
        assert response.status_code == 404
        assert response.json() == {"detail": "report not found"}
    response = put_case(desk, report_id, desk.login("sari"), body)
    assert response.status_code == 409
    assert response.json()["allowed"] == ["claim"]
    # Once claimed, the holder records the case (or a supervisor for them), not a colleague.
    claimed(desk, report_id, "sari")
    response = put_case(desk, report_id, desk.login("budi"), body)
    assert response.status_code == 409
    assert response.json()["holder"] == "sari"
    assert case_of(desk, report_id, desk.login("sari"))["victim_age_band"] is None
    assert put_case(desk, report_id, desk.login("kepala"), body).status_code == 200


# --- the export ---


def export(
    desk: Desk, username: str, fmt: str, start: str = "2026-11-01", end: str = "2026-11-30"
) -> Any:
    return desk.client.get(
        "/api/v1/exports/simfoni",
        params={"from": start, "to": end, "format": fmt},
        headers=desk.login(username),
    )


@pytest.fixture
def november(desk: Desk, team: dict[str, int]) -> dict[str, str]:
    """Reports of JATENG around November 2026 (in WIB), one completed case, one of LAMPUNG."""
    found = {
        "first": desk.report(
            province="33",
            regency="33.74",
            created_at=datetime(2026, 11, 3, 2, 0, tzinfo=UTC),
            answers=CHILD_AT_HOME,
            story=f"{STORY_CANARY} telepon saya {PHONE_CANARY}",
            callback=PHONE_CANARY,
        ),
        "second": desk.report(
            province="33",
            created_at=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            category="online",
            answers={"victim_gender": "male", "place": "school", "perpetrator": "partner"},
        ),
        # 17:30 UTC on 31 October is 1 November in WIB: in the range.
        "wib_first": desk.report(created_at=datetime(2026, 10, 31, 17, 30, tzinfo=UTC)),
        # 17:30 UTC on 30 November is 1 December in WIB: out of the range.
        "wib_after": desk.report(created_at=datetime(2026, 11, 30, 17, 30, tzinfo=UTC)),
        "october": desk.report(created_at=datetime(2026, 10, 15, 9, 0, tzinfo=UTC)),
        "lampung": desk.report(province="18", created_at=datetime(2026, 11, 10, 9, 0, tzinfo=UTC)),
    }
    desk.attachment(found["first"], FILE_CANARY)
    with desk.database.unit() as session:
        reports = session.exec(select(Report).where(Report.province == "18")).all()
        for report in reports:
            report.agency_id = team["other"]
            session.add(report)
    headers = claimed(desk, found["first"])
    body = {
        "victim_age_band": "13-17",
        "violence_forms": ["seksual", "psikis"],
        "perpetrator_relation": "orang_tua",
        "services_given": [
            {"service": "pengaduan", "date": "2026-11-03"},
            {"service": "kesehatan", "date": "2026-11-04"},
        ],
    }
    assert put_case(desk, found["first"], headers, body).status_code == 200
    return found


def references(desk: Desk, ids: list[str]) -> list[str]:
    with desk.database.unit() as session:
        return [session.get(Report, report_id).reference for report_id in ids]  # type: ignore[union-attr]


EXPECTED_ROWS = [
    # Kode is filled in by the test; dates as the reporting day in WIB.
    ["2026-11-01", "", "", "", "", "Seksual", "", "", "", "Baru"],
    [
        "2026-11-03",
        "Jawa Tengah",
        "Kota Semarang",
        "13-17",
        "Perempuan",
        "Psikis; Seksual",
        "Rumah Tangga",
        "Orang Tua",
        "Pengaduan (2026-11-03); Kesehatan (2026-11-04)",
        "Diambil",
    ],
    ["2026-11-20", "Jawa Tengah", "", "", "Laki-laki", "", "Sekolah", "", "", "Baru"],
]


def expected(desk: Desk, november: dict[str, str]) -> list[list[str]]:
    codes = references(desk, [november["wib_first"], november["first"], november["second"]])
    rows = [[code, *row] for code, row in zip(codes, EXPECTED_ROWS, strict=True)]
    # The Desk's default report is in province 33 too.
    rows[0][2] = "Jawa Tengah"
    return rows


def test_the_csv_export_has_simfonis_columns_and_a_row_per_report_of_the_range(
    desk: Desk, november: dict[str, str]
) -> None:
    response = export(desk, "kepala", "csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM spreadsheet programs look for
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(COLUMNS)
    assert rows[1:] == expected(desk, november)


def test_the_xlsx_export_has_a_header_row_widths_and_dates_as_dates(
    desk: Desk, november: dict[str, str]
) -> None:
    response = export(desk, "kepala", "xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0] == list(COLUMNS)
    assert sheet["A1"].font.bold
    days = [row[1] for row in values[1:]]
    assert all(isinstance(day, datetime) for day in days)
    assert [day.date() for day in days] == [  # type: ignore[union-attr]
        date(2026, 11, 1),
        date(2026, 11, 3),
        date(2026, 11, 20),
    ]
    shown = [
        [cell.isoformat()[:10] if isinstance(cell, datetime) else (cell or "") for cell in row]
        for row in values[1:]
    ]
    assert shown == expected(desk, november)
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCDEFGHIJK"}
    assert widths["I"] > widths["A"] > len("Kode")  # services are the longest cells
    assert all(width >= len(header) for width, header in zip(widths.values(), COLUMNS, strict=True))
    assert sheet.freeze_panes == "A2"


def test_the_exported_files_hold_no_story_file_contact_or_receipt(
    desk: Desk, november: dict[str, str]
) -> None:
    with desk.database.unit() as session:
        report = session.get(Report, november["first"])
        assert report is not None
        receipt_hash = report.receipt_hash
    canaries = [STORY_CANARY, PHONE_CANARY, "98765432", FILE_CANARY.decode(), receipt_hash]
    csv_text = export(desk, "kepala", "csv").content.decode("utf-8-sig")
    with zipfile.ZipFile(io.BytesIO(export(desk, "kepala", "xlsx").content)) as book:
        xlsx_text = "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    for text in (csv_text, xlsx_text):
        assert "Kota Semarang" in text  # the scan reads the real content
        for canary in canaries:
            assert canary not in text


def test_every_export_is_audited_with_its_range_format_and_row_count(
    desk: Desk, november: dict[str, str]
) -> None:
    assert export(desk, "kepala", "xlsx", "2026-11-01", "2026-11-30").status_code == 200
    assert export(desk, "kepala-lampung", "csv", "2026-11-01", "2026-11-30").status_code == 200
    log = desk.client.get("/api/v1/audit", headers=desk.login("kepala")).json()["items"]
    exports = [item for item in log if item["action"] == "export.simfoni"]
    assert [entry["detail"] for entry in exports] == [
        {"from": "2026-11-01", "to": "2026-11-30", "format": "xlsx", "rows": 3}
    ]
    assert exports[0]["officer"] == "kepala"
    other = desk.client.get("/api/v1/audit", headers=desk.login("kepala-lampung")).json()["items"]
    assert [item["detail"]["rows"] for item in other if item["action"] == "export.simfoni"] == [1]


def test_officers_may_not_export_and_a_malformed_range_is_422(
    desk: Desk, november: dict[str, str]
) -> None:
    response = export(desk, "sari", "csv")
    assert response.status_code == 403
    assert "detail" in response.json()
    for start, end, fmt in (
        ("2026-11-01", "2026-13-01", "csv"),
        ("1 November", "2026-11-30", "csv"),
        ("2026-11-01", "2026-11-30", "pdf"),
    ):
        response = export(desk, "kepala", fmt, start, end)
        assert response.status_code == 422, (start, end, fmt)
        assert isinstance(response.json()["detail"], list)
    log = desk.client.get("/api/v1/audit", headers=desk.login("kepala")).json()["items"]
    assert not [item for item in log if item["action"] == "export.simfoni"]


def test_a_range_backwards_holds_no_report_and_a_wide_one_every_one(
    desk: Desk, november: dict[str, str]
) -> None:
    backwards = export(desk, "kepala", "csv", "2026-11-30", "2026-11-01")
    assert backwards.status_code == 200
    assert list(csv.reader(io.StringIO(backwards.content.decode("utf-8-sig")))) == [list(COLUMNS)]
    everything = export(desk, "kepala", "csv", "0001-01-01", "9999-12-31")
    assert everything.status_code == 200
    rows = list(csv.reader(io.StringIO(everything.content.decode("utf-8-sig"))))
    assert len(rows) == 1 + 5  # every JATENG report, none of LAMPUNG


# --- statistics in SIMFONI's categories ---


def test_statistics_group_by_simfoni_categories_with_small_counts_suppressed(
    desk: Desk, team: dict[str, int]
) -> None:
    for place, count in (("home", 12), ("school", 3), ("workplace", 4), ("online", 11)):
        for _ in range(count):
            desk.report(answers={"place": place})
    # An officer's change counts as soon as it is saved: one more home becomes a workplace.
    report_id = desk.report(answers={"place": "home"})
    assert put_case(desk, report_id, claimed(desk, report_id), {"place": "tempat_kerja"}).is_success
    headers = desk.login("kepala")

    def cells(**params: str) -> dict[tuple[str, str], int | None]:
        response = desk.client.get("/api/v1/stats", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return {(c["row"], c["column"]): c["count"] for c in response.json()["cells"]}

    assert cells(rows="case.place") == {
        ("rumah_tangga", "total"): 12,
        ("unknown", "total"): 11,  # "online" is no SIMFONI place
        ("sekolah", "total"): None,  # 3
        ("tempat_kerja", "total"): None,  # 5
        ("total", "total"): 31,
    }
    # A report counts under each of its forms of violence (here all sexual).
    assert cells(rows="case.violence_forms") == {("seksual", "total"): 31, ("total", "total"): 31}
    two_way = cells(rows="case.place", columns="category")
    assert two_way[("rumah_tangga", "sexual")] == 12
    assert two_way[("tempat_kerja", "sexual")] is None
    assert two_way[("sekolah", "sexual")] is None
    # Another agency counts none of them.
    other = desk.client.get(
        "/api/v1/stats", params={"rows": "case.place"}, headers=desk.login("lampung")
    ).json()
    assert other["cells"] == [{"row": "total", "column": "total", "count": 0, "suppressed": False}]


# --- the console ---


def test_the_console_case_section_marks_the_reporters_values_and_saves_the_form(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(answers=CHILD_AT_HOME)
    claimed(desk, report_id)
    browser = console_login(app, "sari")
    page = browser.get(f"/console/reports/{report_id}").text
    assert "Data kasus" in page
    assert page.count('class="badge reporter"') == 4  # sex, place, relation and the form
    response = browser.post(
        f"/console/reports/{report_id}/case",
        data={
            "csrf": csrf_of(browser, f"/console/reports/{report_id}"),
            "victim_age_band": "6-12",
            "victim_sex": "P",
            "violence_forms": ["seksual", "fisik"],
            "place": "rumah_tangga",
            "perpetrator_relation": "",
            "perpetrator_sex": "L",
            "service": ["pengaduan", "kesehatan", ""],
            "service_date": ["2026-11-20", "", ""],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("ok=ok.case")
    case = case_of(desk, report_id, desk.login("sari"))
    assert case["victim_age_band"] == "6-12"
    assert case["violence_forms"] == ["fisik", "seksual"]
    assert case["perpetrator_relation"] is None
    assert case["services_given"] == [{"service": "pengaduan", "date": "2026-11-20"}]
    assert sorted(case["from_reporter"]) == ["place", "victim_sex"]
    bad = browser.post(
        f"/console/reports/{report_id}/case",
        data={"csrf": csrf_of(browser, f"/console/reports/{report_id}"), "place": "kebun"},
        follow_redirects=False,
    )
    assert bad.headers["location"].endswith("err=err.invalid")


def test_the_console_export_is_for_supervisors(
    desk: Desk, app: FastAPI, november: dict[str, str]
) -> None:
    officer = console_login(app, "sari")
    assert "Ekspor SIMFONI" not in officer.get("/console/stats").text
    refused = officer.get(
        "/console/exports/simfoni", params={"from": "2026-11-01", "to": "2026-11-30"}
    )
    assert refused.status_code == 403
    supervisor = console_login(app, "kepala")
    assert "Ekspor SIMFONI" in supervisor.get("/console/stats").text
    response = supervisor.get(
        "/console/exports/simfoni",
        params={"from": "2026-11-01", "to": "2026-11-30", "format": "csv"},
    )
    assert response.status_code == 200
    assert len(list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))) == 4
    backwards = supervisor.get(
        "/console/exports/simfoni",
        params={"from": "2026-11-30", "to": "2026-11-01"},
        follow_redirects=False,
    )
    assert backwards.headers["location"].endswith("/stats?err=err.export")
