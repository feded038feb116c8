"""The triage API as duty officers use it, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlmodel import select

from api.security import ALGORITHM, ISSUER
from bot.messages import OutboundMessage
from storage.models import (
    AuditEvent,
    Channel,
    Officer,
    OutboxMessage,
    Priority,
    Report,
    Role,
)
from tests.api.conftest import PASSWORD, Desk
from tests.support import Phone

JATENG, JATIM = "33", "35"


@pytest.fixture
def team(desk: Desk) -> Desk:
    """Two regional agencies and a national one, each with officers."""
    jateng = desk.agency("PPA-JATENG", regions=(JATENG,))
    jatim = desk.agency("PPA-JATIM", regions=(JATIM,))
    national = desk.agency("KEMENPPPA", national=True)
    desk.officer("sari", jateng)
    desk.officer("budi", jateng)
    desk.officer("ayu.spv", jateng, Role.supervisor)
    desk.officer("dewi", jatim)
    desk.officer("nasional", national)
    desk.officer("admin", national, Role.admin)
    return desk


def audit_actions(desk: Desk, report_id: str) -> list[str]:
    with desk.database.unit() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.report_id == report_id).order_by(AuditEvent.id)  # type: ignore[arg-type]
        ).all()
        return [event.action for event in events]


# -- logging in


def test_a_wrong_password_and_an_unknown_user_get_the_same_401(team: Desk) -> None:
    wrong = team.client.post("/api/v1/auth/token", data={"username": "sari", "password": "x" * 12})
    unknown = team.client.post(
        "/api/v1/auth/token", data={"username": "nobody", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong username or password"}


def test_five_failures_lock_the_username_with_the_same_answer(team: Desk) -> None:
    for _ in range(5):
        team.client.post("/api/v1/auth/token", data={"username": "sari", "password": "x" * 12})
    locked = team.client.post("/api/v1/auth/token", data={"username": "SARI", "password": PASSWORD})
    assert locked.status_code == 401
    assert locked.json() == {"detail": "wrong username or password"}
    # Another officer is not affected.
    assert team.login("budi")
    with team.database.unit() as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    assert actions.count("auth.failed") == 5
    assert actions.count("auth.locked") == 1


def test_a_token_that_is_expired_forged_or_for_a_deactivated_officer_is_refused(
    team: Desk,
) -> None:
    key = team.runtime.crypto.token_key
    past = int((datetime.now(UTC) - timedelta(hours=2)).timestamp())
    expired = jwt.encode(
        {"sub": "1", "iss": ISSUER, "iat": past, "exp": past + 60}, key, algorithm=ALGORITHM
    )
    forged = jwt.encode(
        {"sub": "1", "iss": ISSUER, "iat": past, "exp": past + 10**6},
        b"x" * 32,
        algorithm=ALGORITHM,
    )
    for token in (expired, forged, "not-a-token"):
        response = team.client.get("/api/v1/reports", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    headers = team.login("sari")
    assert team.client.get("/api/v1/reports", headers=headers).status_code == 200
    with team.database.unit() as session:
        officer = session.exec(select(Officer).where(Officer.username == "sari")).one()
        officer.active = False
        session.add(officer)
    assert team.client.get("/api/v1/reports", headers=headers).status_code == 401


# -- the queue


def test_the_queue_is_read_while_reporters_turns_hold_the_writer(team: Desk) -> None:
    """An officer is recognised and their queue read without waiting for the database's writer
    (on SQLite one at a time, and kept busy by reporters' turns): only reading, it never takes
    the write lock. The lock is held here until the queue has answered; were the queue to wait
    for it, the hold would end only by giving up after 30 s."""
    team.report(province=JATENG)
    sari = team.login("sari")
    holding, answered = threading.Event(), threading.Event()
    gave_up: list[bool] = []

    def hold_the_writer() -> None:
        with team.database.unit():
            holding.set()
            gave_up.append(not answered.wait(30))

    holder = threading.Thread(target=hold_the_writer)
    holder.start()
    try:
        assert holding.wait(10)
        queue = team.client.get("/api/v1/reports", headers=sari)
    finally:
        answered.set()
        holder.join()
    assert gave_up == [False]
    assert queue.status_code == 200
    assert len(queue.json()["items"]) == 1


def test_the_queue_is_by_priority_then_age_and_pages_without_gaps(team: Desk) -> None:
    start = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
    made = []
    for minute, priority in enumerate([Priority.normal, Priority.critical, Priority.high] * 5):
        made.append(
            (priority, team.report(priority=priority, created_at=start + timedelta(minutes=minute)))
        )
    team.report(province=JATIM)  # another agency's: never listed
    headers = team.login("sari")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 4}
        if cursor:
            params["cursor"] = cursor
        page = team.client.get("/api/v1/reports", params=params, headers=headers).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    rank = {Priority.critical: 0, Priority.high: 1, Priority.normal: 2}
    expected = [report_id for _, report_id in sorted(made, key=lambda m: rank[m[0]])]
    assert seen == expected
    critical = team.client.get(
        "/api/v1/reports", params={"priority": "critical"}, headers=headers
    ).json()["items"]
    assert {item["priority"] for item in critical} == {"critical"}
    assert len(critical) == 5
    bad = team.client.get("/api/v1/reports", params={"cursor": "gar.bage"}, headers=headers)
    assert bad.status_code == 422


def test_overdue_marks_reports_nobody_has_started_past_their_sla(team: Desk) -> None:
    old = team.report(priority=Priority.critical, created_at=datetime.now(UTC) - timedelta(hours=1))
    fresh = team.report(priority=Priority.critical)
    headers = team.login("sari")
    items = {
        i["id"]: i for i in team.client.get("/api/v1/reports", headers=headers).json()["items"]
    }
    assert items[old]["overdue"] is True
    assert items[fresh]["overdue"] is False
    team.client.post(f"/api/v1/reports/{old}/claim", headers=headers)
    team.client.post(
        f"/api/v1/reports/{old}/transitions", json={"action": "start"}, headers=headers
    )
    assert team.client.get(f"/api/v1/reports/{old}", headers=headers).json()["overdue"] is False


def test_mine_lists_only_what_i_hold(team: Desk) -> None:
    first, second = team.report(), team.report()
    sari, budi = team.login("sari"), team.login("budi")
    team.client.post(f"/api/v1/reports/{first}/claim", headers=sari)
    team.client.post(f"/api/v1/reports/{second}/claim", headers=budi)
    mine = team.client.get("/api/v1/reports", params={"mine": "true"}, headers=sari).json()
    assert [item["id"] for item in mine["items"]] == [first]
    assert mine["items"][0]["claimed_by"] == "sari"


# -- claims, moves, access


def test_a_claimed_report_answers_409_to_another_officer_and_can_be_released(team: Desk) -> None:
    report_id = team.report()
    sari, budi = team.login("sari"), team.login("budi")
    claimed = team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    assert claimed.status_code == 200
    assert claimed.json()["status"] == "claimed"
    taken = team.client.post(f"/api/v1/reports/{report_id}/claim", headers=budi)
    assert taken.status_code == 409
    assert taken.json()["holder"] == "sari"
    assert team.client.post(f"/api/v1/reports/{report_id}/release", headers=budi).status_code == 409
    released = team.client.post(f"/api/v1/reports/{report_id}/release", headers=sari)
    assert released.json()["status"] == "new"
    assert released.json()["claimed_by"] is None
    assert team.client.post(f"/api/v1/reports/{report_id}/claim", headers=budi).status_code == 200


def test_an_illegal_move_answers_409_with_the_moves_allowed(team: Desk) -> None:
    report_id = team.report()
    sari = team.login("sari")
    team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    refused = team.client.post(
        f"/api/v1/reports/{report_id}/transitions", json={"action": "close"}, headers=sari
    )
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["release", "start", "refer", "resolve"]
    for action, status in [
        ("start", "in_progress"),
        ("resolve", "resolved"),
        ("close", "closed"),
        ("reopen", "in_progress"),
    ]:
        moved = team.client.post(
            f"/api/v1/reports/{report_id}/transitions",
            json={"action": action, "reason": "test"},
            headers=sari,
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["status"] == status
    wrong = team.client.post(
        f"/api/v1/reports/{report_id}/transitions", json={"action": "fly"}, headers=sari
    )
    assert wrong.status_code == 422
    # A reason is what an officer wrote about the case: shown on the timeline, stored encrypted.
    timeline = team.client.get(f"/api/v1/reports/{report_id}/timeline", headers=sari).json()
    moves = [item for item in timeline["items"] if item["kind"] == "transition"]
    assert [item["text"] for item in moves] == ["test"] * 4
    assert all("reason" not in item["detail"] for item in moves)


def test_another_agencys_report_is_404_everywhere_and_admins_see_all(team: Desk) -> None:
    report_id = team.report(province=JATIM)
    sari = team.login("sari")
    for method, path in [
        ("GET", ""),
        ("POST", "/claim"),
        ("GET", "/timeline"),
    ]:
        response = team.client.request(method, f"/api/v1/reports/{report_id}{path}", headers=sari)
        assert response.status_code == 404
        assert response.json() == {"detail": "report not found"}
    admin = team.login("admin")
    assert team.client.get(f"/api/v1/reports/{report_id}", headers=admin).status_code == 200
    assert (
        team.client.get(f"/api/v1/reports/{report_id}", headers=team.login("dewi")).status_code
        == 200
    )


def test_reports_no_agency_covers_wait_in_the_national_queue(team: Desk) -> None:
    report_id = team.report(province="91")  # Papua Barat: no regional agency here
    national = team.client.get("/api/v1/reports", headers=team.login("nasional")).json()
    assert [item["id"] for item in national["items"]] == [report_id]
    assert national["items"][0]["agency"] == "KEMENPPPA"


def test_readyz_tells_the_admin_about_reports_nobody_can_see(desk: Desk) -> None:
    desk.agency("PPA-JATENG", regions=(JATENG,))
    assert desk.client.get("/readyz").json()["warnings"] == []
    desk.report(province="91")
    warnings = desk.client.get("/readyz").json()["warnings"]
    assert len(warnings) == 1
    assert "--national" in warnings[0]


def test_a_supervisor_reassigns_and_an_officer_may_not(team: Desk) -> None:
    report_id = team.report()
    sari, spv = team.login("sari"), team.login("ayu.spv")
    team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    refused = team.client.post(
        f"/api/v1/reports/{report_id}/assign", json={"officer": "budi"}, headers=sari
    )
    assert refused.status_code == 403
    outsider = team.client.post(
        f"/api/v1/reports/{report_id}/assign", json={"officer": "dewi"}, headers=spv
    )
    assert outsider.status_code == 404
    moved = team.client.post(
        f"/api/v1/reports/{report_id}/assign", json={"officer": "budi"}, headers=spv
    )
    assert moved.status_code == 200
    assert moved.json()["claimed_by"] == "budi"


# -- referrals, notes, messages, audit


def test_a_referral_the_reporter_did_not_consent_to_is_409_and_says_why(team: Desk) -> None:
    report_id = team.report(needs=("counselling", "legal"))
    sari = team.login("sari")
    before_claim = team.client.post(
        f"/api/v1/reports/{report_id}/referrals",
        json={"service": "legal", "organisation": "LBH APIK Semarang"},
        headers=sari,
    )
    assert before_claim.status_code == 409
    team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    police = team.client.post(
        f"/api/v1/reports/{report_id}/referrals",
        json={"service": "police", "organisation": "Polrestabes Semarang"},
        headers=sari,
    )
    assert police.status_code == 409
    assert "police" in police.json()["detail"]
    assert "counselling, legal" in police.json()["detail"]
    for service in ("psychosocial", "legal"):
        done = team.client.post(
            f"/api/v1/reports/{report_id}/referrals",
            json={
                "service": service,
                "organisation": "UPTD PPA Kota Semarang",
                "note": "dijadwalkan",
            },
            headers=sari,
        )
        assert done.status_code == 201, done.text
    timeline = team.client.get(f"/api/v1/reports/{report_id}/timeline", headers=sari).json()
    referrals = [item for item in timeline["items"] if item["kind"] == "referral"]
    assert [item["detail"]["service"] for item in referrals] == ["psychosocial", "legal"]
    assert referrals[0]["text"] == "dijadwalkan"
    # The first referral moved the case on; the second did not move it again.
    moves = [item["detail"]["to"] for item in timeline["items"] if item["kind"] == "transition"]
    assert moves == ["referred"]
    report = team.client.get(f"/api/v1/reports/{report_id}", headers=sari).json()
    assert report["status"] == "referred"


def test_every_read_and_action_is_audited_and_supervisors_read_the_audit(team: Desk) -> None:
    report_id = team.report()
    sari = team.login("sari")
    team.client.get(f"/api/v1/reports/{report_id}", headers=sari)
    team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    team.client.post(
        f"/api/v1/reports/{report_id}/notes", json={"text": "Menelepon sekolah."}, headers=sari
    )
    team.client.post(
        f"/api/v1/reports/{report_id}/transitions", json={"action": "start"}, headers=sari
    )
    assert audit_actions(team, report_id) == [
        "report.read",
        "report.claim",
        "report.note",
        "report.transition",
    ]
    assert team.client.get("/api/v1/audit", headers=sari).status_code == 403
    page = team.client.get(
        "/api/v1/audit", params={"report_id": report_id}, headers=team.login("ayu.spv")
    ).json()
    assert [item["action"] for item in page["items"]] == [
        "report.transition",
        "report.note",
        "report.claim",
        "report.read",
    ]
    assert {item["officer"] for item in page["items"]} == {"sari"}
    # Another agency's supervisor sees none of it.
    team.officer("jatim.spv", team.agency("PPA-NTB", regions=("52",)), Role.supervisor)
    other = team.client.get(
        "/api/v1/audit", params={"report_id": report_id}, headers=team.login("jatim.spv")
    ).json()
    assert other["items"] == []


@dataclass
class Filed:
    """A report filed through the reporter's phone and claimed by sari."""

    phone: Phone
    receipt: str
    report_id: str
    sari: dict[str, str]


def file_and_claim(team: Desk, identity: str, contact: str) -> Filed:
    phone = team.phone(identity)
    receipt = phone.report(province="jawa tengah", regency="kota semarang", contact=contact)
    with team.database.unit() as session:
        newest = session.exec(select(Report).order_by(Report.created_at.desc())).first()  # type: ignore[attr-defined]
        assert newest is not None
        report_id = newest.id
    sari = team.login("sari")
    assert team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari).status_code == 200
    return Filed(phone, receipt, report_id, sari)


def test_an_officers_message_reaches_a_reporter_who_chose_chat_and_their_answer_comes_back(
    team: Desk,
) -> None:
    filed = file_and_claim(team, "555000111", "chat")
    phone, receipt, report_id, sari = filed.phone, filed.receipt, filed.report_id, filed.sari
    sent = team.client.post(
        f"/api/v1/reports/{report_id}/messages",
        json={"text": "Kami sudah menghubungi UPTD PPA Kota Semarang."},
        headers=sari,
    )
    assert sent.status_code == 201
    assert sent.json()["pushed"] is True
    pushed = phone.outbox()[-1]
    assert "Kami sudah menghubungi UPTD PPA Kota Semarang." in pushed.text
    assert "status" in pushed.text
    # The reporter answers through "status" and the answer shows in the officer's timeline.
    phone.type("status")
    phone.type(receipt)
    shown = phone.outbox()[-1]
    assert "Kami sudah menghubungi UPTD PPA Kota Semarang." in shown.text
    phone.press("case:reply")
    phone.type("Terima kasih, saya tunggu. Kalau perlu telepon 0857 1111 2222.")
    timeline = team.client.get(f"/api/v1/reports/{report_id}/timeline", headers=sari).json()
    messages = [
        (i["detail"]["direction"], i["text"]) for i in timeline["items"] if i["kind"] == "message"
    ]
    assert messages == [
        ("to_reporter", "Kami sudah menghubungi UPTD PPA Kota Semarang."),
        ("from_reporter", "Terima kasih, saya tunggu. Kalau perlu telepon [nomor telepon]."),
    ]
    # The reporter's address is never in what officers read.
    body = team.client.get(f"/api/v1/reports/{report_id}", headers=sari).text
    assert "555000111" not in body


def test_without_chat_a_message_waits_for_status_and_closing_forgets_the_address(
    team: Desk,
) -> None:
    filed = file_and_claim(team, "555000222", "anonymous")
    quiet, receipt, report_id, sari = filed.phone, filed.receipt, filed.report_id, filed.sari
    before = len(quiet.outbox())
    sent = team.client.post(
        f"/api/v1/reports/{report_id}/messages",
        json={"text": "Halo, kami membaca laporanmu."},
        headers=sari,
    )
    assert sent.json()["pushed"] is False
    assert len(quiet.outbox()) == before
    quiet.type("status")
    quiet.type(receipt)
    assert "Halo, kami membaca laporanmu." in quiet.outbox()[-1].text

    chatty = file_and_claim(team, "555000333", "chat")
    with team.database.unit() as session:
        chat_report = session.get(Report, chatty.report_id)
        assert chat_report is not None
        assert chat_report.reply_address is not None
    for action in ("resolve", "close"):
        team.client.post(
            f"/api/v1/reports/{chat_report.id}/transitions", json={"action": action}, headers=sari
        )
    with team.database.unit() as session:
        closed = session.get(Report, chat_report.id)
        assert closed is not None
        assert closed.reply_address is None
    late = team.client.post(
        f"/api/v1/reports/{chat_report.id}/messages", json={"text": "Halo?"}, headers=sari
    )
    assert late.status_code == 409


def test_a_pushed_message_is_in_the_outbox_for_the_reporters_channel_only(team: Desk) -> None:
    filed = file_and_claim(team, "555000444", "chat")
    report_id, sari = filed.report_id, filed.sari
    # The sender is woken once the officer's message is committed (it would otherwise find it
    # at its next idle poll): at that moment the message is already there to be sent.
    found_at_wake: list[int] = []

    def wake() -> None:
        with team.database.read() as session:
            found_at_wake.append(len(session.exec(select(OutboxMessage)).all()))

    team.runtime.inbox.on_committed = wake
    team.client.post(
        f"/api/v1/reports/{report_id}/messages", json={"text": "Pesan uji."}, headers=sari
    )
    with team.database.unit() as session:
        queued = len(session.exec(select(OutboxMessage)).all())
    assert found_at_wake == [queued]
    with team.database.unit() as session:
        last = session.exec(select(OutboxMessage).order_by(OutboxMessage.id.desc())).first()  # type: ignore[union-attr]
        assert last is not None
        assert last.channel == Channel.telegram
        assert team.runtime.crypto.cipher.decrypt_text(last.address) == "555000444"
        assert (
            "Pesan uji."
            in OutboundMessage.from_bytes(team.runtime.crypto.cipher.decrypt(last.payload)).text
        )


def test_the_story_is_masked_for_officers(team: Desk) -> None:
    report_id = team.report(story="Hubungi aku di 0812 3456 7890 atau NIK 3374014501900001.")
    story = team.client.get(f"/api/v1/reports/{report_id}", headers=team.login("sari")).json()[
        "story"
    ]
    assert "3456" not in story
    assert "3374014501900001" not in story


def test_a_callback_number_is_shown_only_to_the_holder_and_the_read_is_audited(
    team: Desk,
) -> None:
    report_id = team.report(callback="0812-3456-7890")
    sari, budi = team.login("sari"), team.login("budi")
    full = team.client.get(f"/api/v1/reports/{report_id}", headers=sari).text
    assert "3456" not in full
    assert team.client.get(f"/api/v1/reports/{report_id}/callback", headers=sari).status_code == 409
    team.client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
    assert team.client.get(f"/api/v1/reports/{report_id}/callback", headers=budi).status_code == 409
    shown = team.client.get(f"/api/v1/reports/{report_id}/callback", headers=sari)
    assert shown.json() == {"phone": "0812-3456-7890"}
    assert audit_actions(team, report_id)[-1] == "report.callback"


def test_statistics_suppress_small_counts_and_what_would_give_them_away(team: Desk) -> None:
    for category, n in [("sexual", 12), ("physical", 3), ("psychological", 11)]:
        for _ in range(n):
            team.report(category=category)
    team.report(province=JATIM, category="physical")  # another agency's: not counted
    stats = team.client.get(
        "/api/v1/stats", params={"rows": "category"}, headers=team.login("sari")
    )
    assert stats.status_code == 200
    cells = {cell["row"]: cell for cell in stats.json()["cells"]}
    assert cells["physical"] == {
        "row": "physical",
        "column": "total",
        "count": None,
        "suppressed": True,
    }
    # With the total published, one more cell must go, or 26 - 12 - 11 gives the 3 away.
    assert cells["total"]["count"] == 26
    assert cells["psychological"]["suppressed"] is True
    assert cells["sexual"]["count"] == 12
    two_way = team.client.get(
        "/api/v1/stats",
        params={"rows": "category", "columns": "priority"},
        headers=team.login("admin"),
    ).json()
    published = [cell["count"] for cell in two_way["cells"] if cell["count"] is not None]
    assert all(count == 0 or count >= 10 for count in published)


def test_an_evidence_file_is_downloaded_by_the_agency_only_and_audited(team: Desk) -> None:
    report_id = team.report()
    attachment_id = team.attachment(report_id)
    sari = team.login("sari")
    listed = team.client.get(f"/api/v1/reports/{report_id}", headers=sari).json()["attachments"]
    assert listed == [{"id": attachment_id, "kind": "photo", "size": 4, "sha256": "0" * 64}]
    path = f"/api/v1/reports/{report_id}/attachments/{attachment_id}"
    got = team.client.get(path, headers=sari)
    assert got.content == b"JPEG"
    assert got.headers["content-type"] == "image/jpeg"
    assert got.headers["cache-control"] == "no-store"
    assert audit_actions(team, report_id)[-1] == "report.attachment"
    assert team.client.get(path, headers=team.login("dewi")).status_code == 404
