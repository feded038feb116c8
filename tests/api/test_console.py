"""The officers' console over plain HTTP: sessions, CSRF, headers, idle expiry, agency scoping,
and the reports in words. Actions go through the triage API's functions, so these tests check
the console's own part (and that the API's scoping and audit still apply)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.console.session import CSRF_COOKIE, SESSION_COOKIE, session_token
from api.console.words import STRINGS
from api.main import create_app
from api.security import claims_of
from storage.crypto import Keys
from storage.db import Database
from storage.models import AuditEvent, Priority, Report, ReportStatus, utcnow
from tests.api.conftest import PASSWORD, Desk, make_settings

CSRF_INPUT = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(client: TestClient, path: str = "/console/login") -> str:
    found = CSRF_INPUT.search(client.get(path).text)
    assert found is not None
    return found.group(1)


def console_login(app: FastAPI, username: str) -> TestClient:
    """A browser of its own (own cookies) logged in to the console as ``username``."""
    browser = TestClient(app, raise_server_exceptions=False)
    response = browser.post(
        "/console/login",
        data={"username": username, "password": PASSWORD, "csrf": csrf_of(browser)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return browser


def reference_of(database: Database, report_id: str) -> str:
    with database.unit() as session:
        report = session.get(Report, report_id)
        assert report is not None
        return report.reference


def actions(database: Database, report_id: str) -> list[str]:
    with database.unit() as session:
        rows = session.exec(
            select(AuditEvent.action)
            .where(AuditEvent.report_id == report_id)
            .order_by(col(AuditEvent.id))
        ).all()
    return list(rows)


def test_login_sets_a_strict_httponly_session_cookie(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    browser = TestClient(app)
    token = csrf_of(browser)
    response = browser.post(
        "/console/login",
        data={"username": "sari", "password": PASSWORD, "csrf": token},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/console/queue"
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    flags = {part.strip().lower() for part in cookie.split(";")}
    assert {"httponly", "samesite=strict", "path=/console"} <= flags
    assert "secure" not in flags  # development runs on plain http://127.0.0.1
    page = browser.get("/console/queue")
    assert page.status_code == 200
    assert "sari" in page.text


def test_the_session_cookie_is_secure_in_production(
    tmp_path: Path, keys: Keys, database: Database
) -> None:
    settings = make_settings(
        tmp_path, keys, database_url=database.url.render_as_string(False), env="production"
    )
    browser = TestClient(create_app(settings, database=database), base_url="https://testserver")
    response = browser.get("/console/login")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(CSRF_COOKIE)
    assert "secure" in cookie.lower()


def test_a_wrong_password_gets_the_login_page_and_no_session(
    app: FastAPI, team: dict[str, int]
) -> None:
    browser = TestClient(app)
    response = browser.post(
        "/console/login",
        data={"username": "sari", "password": "not-the-password", "csrf": csrf_of(browser)},
    )
    assert response.status_code == 401
    assert "salah" in response.text  # Bahasa Indonesia first
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert browser.get("/console/queue", follow_redirects=False).status_code == 303


def test_logging_out_ends_the_session_and_is_audited(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    browser = console_login(app, "sari")
    stolen = browser.cookies.get(SESSION_COOKIE)
    response = browser.post(
        "/console/logout", data={"csrf": csrf_of(browser, "/console/queue")}, follow_redirects=False
    )
    assert response.status_code == 303
    assert 'lapor_console=""' in response.headers["set-cookie"]
    after = browser.get("/console/queue", follow_redirects=False)
    assert after.status_code == 303
    assert after.headers["location"].startswith("/console/login")
    with desk.database.unit() as session:
        logged = session.exec(select(AuditEvent).where(AuditEvent.action == "auth.logout")).one()
    assert logged.officer_id == team["sari"]
    assert stolen  # (a copied cookie stays valid until its idle expiry: see README)


@pytest.mark.parametrize("token", [None, "0" * 64])
def test_a_form_without_the_right_csrf_token_is_refused(
    desk: Desk, app: FastAPI, team: dict[str, int], token: str | None
) -> None:
    report_id = desk.report()
    browser = console_login(app, "sari")
    data = {} if token is None else {"csrf": token}
    response = browser.post(f"/console/reports/{report_id}/claim", data=data)
    assert response.status_code == 403
    assert "text/html" in response.headers["content-type"]
    with desk.database.unit() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.status == ReportStatus.new
    login = TestClient(app).post(
        "/console/login", data={"username": "sari", "password": PASSWORD, **data}
    )
    assert login.status_code == 403


def test_a_token_from_another_browser_is_refused(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report()
    mine = console_login(app, "sari")
    theirs = csrf_of(TestClient(app))
    response = mine.post(f"/console/reports/{report_id}/claim", data={"csrf": theirs})
    assert response.status_code == 403


def test_console_pages_carry_a_strict_content_security_policy(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(story="Tolong, hubungi 0812-3456-7890.")
    browser = console_login(app, "kepala")
    for path in (
        "/console/login",
        "/console/queue",
        f"/console/reports/{report_id}",
        "/console/stats",
        "/console/audit",
        "/console/team",
        "/console/nowhere",
    ):
        response = browser.get(path)
        policy = response.headers["content-security-policy"]
        assert "default-src 'self'" in policy
        assert "frame-ancestors 'none'" in policy
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert response.headers["cache-control"] == "no-store"
        # Nothing the policy would block: no inline script, no style attribute or element.
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", response.text), path
        assert " style=" not in response.text, path
        assert "<style" not in response.text, path
        assert "hx-on" not in response.text
    script = browser.get("/console/static/htmx.min.js")
    assert script.status_code == 200
    assert script.headers["cache-control"] == "no-cache"  # nothing private: may be kept


def test_an_idle_session_expires(desk: Desk, app: FastAPI, team: dict[str, int]) -> None:
    runtime = desk.runtime
    browser = TestClient(app)
    idle = runtime.settings.console_idle_minutes
    stale = session_token(team["sari"], runtime, utcnow() - timedelta(minutes=idle + 1))
    browser.cookies.set(SESSION_COOKIE, stale, path="/console")
    response = browser.get("/console/queue", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?expired=1"
    # The polled queue says the same to htmx, which sends the whole page to the login.
    polled = browser.get("/console/queue/rows", headers={"HX-Request": "true"})
    assert polled.headers["hx-redirect"] == "/console/login?expired=1"

    recent = session_token(team["sari"], runtime, utcnow() - timedelta(minutes=idle - 1))
    browser.cookies.set(SESSION_COOKIE, recent, path="/console")
    page = browser.get("/console/queue", follow_redirects=False)
    assert page.status_code == 200
    renewed = page.headers["set-cookie"]
    assert renewed.startswith(SESSION_COOKIE)  # activity renews the idle limit
    # Polling is not activity: a page left open does not keep the session alive.
    assert SESSION_COOKIE not in browser.get("/console/queue/rows").headers.get("set-cookie", "")


def test_a_session_ends_some_hours_after_login_however_active(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    runtime = desk.runtime
    hours = runtime.settings.console_session_hours
    browser = TestClient(app)
    now = utcnow()
    over = session_token(
        team["sari"], runtime, now, started=now - timedelta(hours=hours, minutes=1)
    )
    browser.cookies.set(SESSION_COOKIE, over, path="/console")
    assert browser.get("/console/queue", follow_redirects=False).status_code == 303
    started = now - timedelta(hours=hours - 1)
    within = session_token(team["sari"], runtime, now - timedelta(minutes=5), started=started)
    browser.cookies.set(SESSION_COOKIE, within, path="/console")
    page = browser.get("/console/queue", follow_redirects=False)
    assert page.status_code == 200
    renewed = page.cookies.get(SESSION_COOKIE)
    assert renewed is not None
    assert renewed != within
    claims = claims_of(renewed, runtime, audience="console")
    assert claims is not None
    assert claims["auth_time"] == int(started.timestamp())  # renewing keeps the login time


def test_an_api_token_does_not_open_the_console_nor_a_session_the_api(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    bearer = desk.login("sari")["Authorization"].removeprefix("Bearer ")
    browser = TestClient(app)
    browser.cookies.set(SESSION_COOKIE, bearer, path="/console")
    assert browser.get("/console/queue", follow_redirects=False).status_code == 303
    session = session_token(team["sari"], desk.runtime, utcnow())
    api = desk.client.get("/api/v1/reports", headers={"Authorization": f"Bearer {session}"})
    assert api.status_code == 401


def test_another_agencys_report_page_is_404(desk: Desk, app: FastAPI, team: dict[str, int]) -> None:
    report_id = desk.report(province="33")
    browser = console_login(app, "lampung")
    page = browser.get(f"/console/reports/{report_id}")
    assert page.status_code == 404
    assert "text/html" in page.headers["content-type"]
    assert reference_of(desk.database, report_id) not in page.text
    token = csrf_of(browser, "/console/queue")
    for action in ("claim", "notes", "messages"):
        refused = browser.post(
            f"/console/reports/{report_id}/{action}", data={"csrf": token, "text": "halo"}
        )
        assert refused.status_code == 404
    assert console_login(app, "sari").get(f"/console/reports/{report_id}").status_code == 200


def test_the_queue_fragment_shows_only_the_officers_agency(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    own = reference_of(desk.database, desk.report(province="33", priority=Priority.critical))
    other = reference_of(desk.database, desk.report(province="18"))
    rows = console_login(app, "sari").get("/console/queue/rows")
    assert rows.status_code == 200
    assert own in rows.text
    assert other not in rows.text
    assert 'hx-trigger="every 5s"' in rows.text
    assert other in console_login(app, "lampung").get("/console/queue/rows").text


def test_the_queue_filters_by_mine_status_and_priority(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    held = desk.report(priority=Priority.high)
    waiting = reference_of(desk.database, desk.report())
    browser = console_login(app, "sari")
    token = csrf_of(browser, "/console/queue")
    assert browser.post(f"/console/reports/{held}/claim", data={"csrf": token}).status_code == 200
    mine = browser.get("/console/queue?mine=true").text
    assert reference_of(desk.database, held) in mine
    assert waiting not in mine
    assert waiting in browser.get("/console/queue?status=new&priority=").text
    assert waiting not in browser.get("/console/queue?priority=high").text


def test_the_report_page_shows_answers_in_words_and_the_masked_story(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(category="physical", story="Hubungi saya di 0812-3456-7890.")
    browser = console_login(app, "sari")
    page = browser.get(f"/console/reports/{report_id}")
    assert "Fisik (dipukul dll.)" in page.text  # the flow's own label, not "physical"
    assert "Jawa Tengah" in page.text  # province 33 by its name
    assert "0812-3456-7890" not in page.text
    assert "Konseling" in page.text  # the need the reporter asked for
    english = browser.get(f"/console/reports/{report_id}?lang=en")
    assert "Physical (hitting etc.)" in english.text
    assert "Claim this report" in english.text
    # The choice is remembered.
    assert "Claim this report" in browser.get(f"/console/reports/{report_id}").text
    assert actions(desk.database, report_id).count("report.read") == 3


def test_console_actions_are_the_apis_with_its_audit(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(needs=("legal",))
    browser = console_login(app, "sari")
    token = csrf_of(browser, "/console/queue")
    base = f"/console/reports/{report_id}"
    claimed = browser.post(f"{base}/claim", data={"csrf": token}, follow_redirects=False)
    assert claimed.headers["location"] == f"{base}?ok=ok.claim"
    refused = browser.post(
        f"{base}/referrals",
        data={"csrf": token, "service": "medical", "organisation": "RSUD"},
        follow_redirects=False,
    )
    assert refused.headers["location"] == f"{base}?err=err.consent"
    page = browser.post(
        f"{base}/referrals", data={"csrf": token, "service": "legal", "organisation": "LBH APIK"}
    )
    assert "Rujukan dicatat" in page.text
    assert "LBH APIK" in page.text
    browser.post(f"{base}/notes", data={"csrf": token, "text": "Sudah telepon sekolah."})
    browser.post(f"{base}/messages", data={"csrf": token, "text": "Kami sudah menerima."})
    empty = browser.post(f"{base}/notes", data={"csrf": token, "text": ""}, follow_redirects=False)
    assert empty.headers["location"] == f"{base}?err=err.invalid"
    other = console_login(app, "budi")
    held = other.post(
        f"{base}/release", data={"csrf": csrf_of(other, "/console/queue")}, follow_redirects=False
    )
    assert held.headers["location"] == f"{base}?err=err.held"
    done = actions(desk.database, report_id)
    for action in ("report.claim", "report.referral", "report.note", "report.message"):
        assert action in done
    timeline = desk.client.get(
        f"/api/v1/reports/{report_id}/timeline", headers=desk.login("sari")
    ).json()["items"]
    assert [item["kind"] for item in timeline] == [
        "claim",
        "referral",
        "transition",
        "note",
        "message",
    ]


def test_supervisor_pages_refuse_officers(desk: Desk, app: FastAPI, team: dict[str, int]) -> None:
    report_id = desk.report()
    browser = console_login(app, "sari")
    for path in ("/console/audit", "/console/team", "/console/admin"):
        assert browser.get(path).status_code == 403
    # Handing a report over is the supervisors' (the API checks it in a dependency, the console
    # in its own).
    token = csrf_of(browser, "/console/queue")
    handed = browser.post(
        f"/console/reports/{report_id}/assign", data={"csrf": token, "officer": "sari"}
    )
    assert handed.status_code == 403
    assert "report.assign" not in actions(desk.database, report_id)
    boss = console_login(app, "kepala")
    assert boss.get("/console/audit").status_code == 200
    assert boss.get("/console/team").status_code == 200
    assert boss.get("/console/admin").status_code == 403


def test_a_supervisor_reassigns_and_reads_the_audit(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(priority=Priority.critical, created_at=utcnow() - timedelta(hours=1))
    boss = console_login(app, "kepala")
    breaches = boss.get("/console/team").text
    assert reference_of(desk.database, report_id) in breaches
    assert "terlambat" in breaches
    token = csrf_of(boss, "/console/queue")
    boss.post(f"/console/reports/{report_id}/assign", data={"csrf": token, "officer": "budi"})
    with desk.database.unit() as session:
        report = session.get(Report, report_id)
        assert report is not None
        assert report.claimed_by == team["budi"]
    log = boss.get("/console/audit").text
    assert "report.assign" in log
    assert "auth.login" in log


def test_statistics_suppress_small_counts(desk: Desk, app: FastAPI, team: dict[str, int]) -> None:
    for _ in range(3):
        desk.report(category="sexual")
    for _ in range(11):
        desk.report(category="neglect")
    for _ in range(12):
        desk.report(category="physical")
    page = console_login(app, "sari").get("/console/stats").text
    assert "<svg" in page
    assert ">12<" in page
    assert ">26<" in page or ": 26<" in page  # the total
    # 3 is below the threshold, and 11 would give it away from the total: both hidden, as in
    # the API.
    assert ">3<" not in page
    assert ">11<" not in page
    assert "&lt; 10" in page


def test_a_failure_renders_a_calm_page_without_a_trace(
    app: FastAPI, team: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    browser = console_login(app, "sari")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("secret detail 0812-3456-7890")

    monkeypatch.setattr("api.routes.reports.list_reports", broken)
    page = browser.get("/console/queue")
    assert page.status_code == 500
    assert "Terjadi kesalahan di sisi kami" in page.text
    assert "RuntimeError" not in page.text
    assert "0812" not in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]


def test_evidence_downloads_through_the_audited_path(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report()
    attachment_id = desk.attachment(report_id, b"\xff\xd8photo")
    browser = console_login(app, "sari")
    path = f"/console/reports/{report_id}/attachments/{attachment_id}"
    assert path in browser.get(f"/console/reports/{report_id}").text
    got = browser.get(path)
    assert got.content == b"\xff\xd8photo"
    assert got.headers["content-type"] == "image/jpeg"
    assert "attachment" in got.headers["content-disposition"]
    assert actions(desk.database, report_id)[-1] == "report.attachment"
    assert console_login(app, "lampung").get(path).status_code == 404


def test_the_callback_number_is_for_the_holder_only_and_audited(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report(callback="0812-9999-0000")
    browser = console_login(app, "sari")
    page = f"/console/reports/{report_id}"
    callback = f"{page}/callback"
    assert callback not in browser.get(page).text
    early = browser.get(callback, follow_redirects=False)
    assert early.headers["location"] == f"{page}?err=err.claim_first"
    browser.post(f"{page}/claim", data={"csrf": csrf_of(browser, page)})
    assert callback in browser.get(page).text
    shown = browser.get(callback)
    assert "0812-9999-0000" in shown.text
    assert actions(desk.database, report_id)[-1] == "report.callback"
    other = console_login(app, "budi").get(callback, follow_redirects=False)
    assert other.headers["location"] == f"{page}?err=err.claim_first"
    assert "0812-9999-0000" not in console_login(app, "budi").get(page).text


def test_a_form_too_long_for_the_api_gets_a_message_not_an_error(
    desk: Desk, app: FastAPI, team: dict[str, int]
) -> None:
    report_id = desk.report()
    browser = console_login(app, "sari")
    base = f"/console/reports/{report_id}"
    token = csrf_of(browser, base)
    browser.post(f"{base}/claim", data={"csrf": token})
    long = browser.post(
        f"{base}/notes", data={"csrf": token, "text": "x" * 5001}, follow_redirects=False
    )
    assert long.headers["location"] == f"{base}?err=err.invalid"
    odd = browser.post(
        f"{base}/move", data={"csrf": token, "action": "vanish"}, follow_redirects=False
    )
    assert odd.headers["location"] == f"{base}?err=err.invalid"
    assert "Isian belum lengkap" in browser.get(f"{base}?err=err.invalid").text
    crafted = browser.get(f"{base}?err=error.500&ok=nonsense")
    assert crafted.status_code == 200
    assert "Terjadi kesalahan" not in crafted.text


def test_every_console_word_exists_in_both_languages() -> None:
    indonesian, english = set(STRINGS["id"]), set(STRINGS["en"])
    assert indonesian == english
    # And every key a template or page names is one of them.
    console = Path(__file__).resolve().parents[2] / "api" / "console"
    named: set[str] = set()
    for source in [*console.glob("templates/*.html"), console / "pages.py"]:
        named |= set(re.findall(r"""\bt\(\s*["']([a-z_.0-9]+)["']""", source.read_text()))
        named |= set(re.findall(r"""["']((?:ok|err)\.[a-z_]+)["']""", source.read_text()))
    # ``t("status." ~ report.status)`` names a family of keys by its prefix.
    families = {key for key in named if key.endswith(".")}
    assert families
    assert named - families <= indonesian, named - families - indonesian
    assert all(any(key.startswith(family) for key in indonesian) for family in families)


def test_the_duty_toggle_goes_back_to_the_console_page_only(app: FastAPI, desk: Desk) -> None:
    desk.officer("sari", desk.agency("PPA-JATENG", regions=("33",)))
    browser = console_login(app, "sari")
    page = browser.get("/console/stats").text
    assert "Tidak piket" in page
    on = browser.post(
        "/console/duty",
        data={"on_duty": "1", "back": "/console/stats", "csrf": csrf_of(browser, "/console/stats")},
        follow_redirects=False,
    )
    assert (on.status_code, on.headers["location"]) == (303, "/console/stats")
    assert "Sedang piket" in browser.get("/console/stats").text
    me = desk.client.get("/api/v1/me", headers=desk.login("sari")).json()
    assert me["on_duty"] is True
    for elsewhere in ("https://evil.example/", "//evil.example/console/", "/console\\\\evil"):
        off = browser.post(
            "/console/duty",
            data={"on_duty": "0", "back": elsewhere, "csrf": csrf_of(browser, "/console/queue")},
            follow_redirects=False,
        )
        assert (off.status_code, off.headers["location"]) == (303, "/console/queue")
    assert desk.client.get("/api/v1/me", headers=desk.login("sari")).json()["on_duty"] is False
    refused = browser.post("/console/duty", data={"on_duty": "1"}, follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token
