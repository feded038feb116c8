"""Referrals between agencies (CONTRACT §7) through the triage API, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import col, select

from bot.messages import ReplyAddress
from storage import referrals, triage
from storage.alerts import alerts_for_report
from storage.crypto import Keys
from storage.db import Database
from storage.models import (
    Agency,
    AlertKind,
    AuditEvent,
    Channel,
    Officer,
    Referral,
    Report,
    Role,
    Service,
    utcnow,
)
from storage.officer_contacts import set_email, set_on_duty
from tests.api.conftest import Desk
from tests.api.test_console import console_login
from tests.api.test_whatsapp_webhook import WA_ID, WhatsAppPhone, whatsapp_app

JATENG = "33"
SEMARANG = "33.74"
PSY, REHAB, MEDICAL, LEGAL = (
    Service.psychosocial,
    Service.rehabilitation,
    Service.medical,
    Service.legal,
)


@pytest.fixture
def net(desk: Desk) -> Desk:
    """A case-holding agency, agencies offering services at regency, province and national level,
    and a third agency that has nothing to do with the referrals."""
    holder = desk.agency("PPA-JATENG", regions=(JATENG,))  # first: reports of 33 route here
    dinsos = desk.agency("DINSOS-SMG", regions=(SEMARANG,), services=(PSY, REHAB))
    desk.agency("RS-JATENG", regions=(JATENG,), services=(MEDICAL, PSY))
    desk.agency("KEMENSOS", national=True, services=(PSY, REHAB))
    desk.agency("DINSOS-KUDUS", regions=("33.19",), services=(PSY,))
    third = desk.agency("PPA-JATIM", regions=("35",), services=(PSY,))
    desk.agency("LBH-SMG", regions=(SEMARANG,), services=(LEGAL,))
    desk.officer("sari", holder)
    desk.officer("ayu.spv", holder, Role.supervisor)
    desk.officer("rina", dinsos)
    desk.officer("tono", dinsos)
    desk.officer("dewi", third)
    return desk


def claimed_report(net: Desk, **fields: Any) -> str:
    report_id = net.report(**{"needs": ("counselling",), **fields})
    claim = net.client.post(f"/api/v1/reports/{report_id}/claim", headers=net.login("sari"))
    assert claim.status_code == 200, claim.text
    return report_id


def refer(net: Desk, report_id: str, **body: Any) -> Any:
    return net.client.post(
        f"/api/v1/reports/{report_id}/referrals", json=body, headers=net.login("sari")
    )


def referral_to_dinsos(net: Desk, report_id: str, note: str | None = None) -> str:
    made = refer(net, report_id, service="psychosocial", agency="DINSOS-SMG", note=note)
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def codes(net: Desk, query: str) -> list[str]:
    found = net.client.get(f"/api/v1/agencies?{query}", headers=net.login("sari"))
    assert found.status_code == 200, found.text
    return [agency["code"] for agency in found.json()]


def audit_actions(net: Desk, report_id: str) -> list[str]:
    with net.database.unit() as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.report_id == report_id).order_by(col(AuditEvent.id))
        ).all()
        return [row.action for row in rows]


# -- the directory


def test_the_directory_covers_a_regency_by_its_own_agencies_its_province_and_national_ones(
    net: Desk,
) -> None:
    assert codes(net, "service=psychosocial&region=33.74") == [
        "DINSOS-SMG",
        "KEMENSOS",
        "RS-JATENG",
    ]
    # A province is covered by province-wide and national agencies, not by one regency's.
    assert codes(net, "service=psychosocial&region=33") == ["KEMENSOS", "RS-JATENG"]
    assert codes(net, "service=psychosocial&region=35.01") == ["KEMENSOS", "PPA-JATIM"]
    assert codes(net, "service=rehabilitation&region=33.19") == ["KEMENSOS"]
    assert codes(net, "service=legal&region=33.19") == []
    assert codes(net, "service=legal") == ["LBH-SMG"]
    one = net.client.get(
        "/api/v1/agencies?service=rehabilitation&region=33.74", headers=net.login("sari")
    ).json()[0]
    assert one == {
        "code": "DINSOS-SMG",
        "name": "Agency DINSOS-SMG",
        "services": ["psychosocial", "rehabilitation"],
        "regions": ["33.74"],
    }


def test_the_directory_refuses_an_unknown_service_or_a_malformed_region(net: Desk) -> None:
    sari = net.login("sari")
    assert net.client.get("/api/v1/agencies?service=magic", headers=sari).status_code == 422
    bad = net.client.get("/api/v1/agencies?service=legal&region=Semarang", headers=sari)
    assert bad.status_code == 422
    assert net.client.get("/api/v1/agencies?service=legal").status_code == 401


# -- consent and what an agency offers


def test_consent_is_checked_before_the_agency_and_an_agency_must_offer_the_service(
    net: Desk,
) -> None:
    report_id = claimed_report(net, needs=("counselling", "medical"))
    legal = refer(net, report_id, service="legal", agency="LBH-SMG")
    assert legal.status_code == 409
    assert "legal" in legal.json()["detail"]
    not_offered = refer(net, report_id, service="medical", agency="DINSOS-SMG")
    assert not_offered.status_code == 422
    assert not_offered.json()["detail"] == (
        "DINSOS-SMG does not offer medical; choose one that does"
    )
    unknown = refer(net, report_id, service="medical", agency="NOBODY")
    assert unknown.status_code == 422
    own = refer(net, report_id, service="psychosocial", agency="PPA-JATENG")
    assert own.status_code == 422
    both = refer(net, report_id, service="medical", agency="RS-JATENG", organisation="RS X")
    neither = refer(net, report_id, service="medical")
    nulls = refer(net, report_id, service="medical", agency=None, organisation=None)
    assert both.status_code == neither.status_code == nulls.status_code == 422
    # Counselling covers social rehabilitation too; medical goes to the hospital.
    rehab = refer(net, report_id, service="rehabilitation", agency="KEMENSOS", note="rawat jalan")
    assert rehab.status_code == 201, rehab.text
    made = rehab.json()
    assert made["status"] == "pending"
    assert (made["from_agency"], made["to_agency"], made["organisation"]) == (
        "PPA-JATENG",
        "KEMENSOS",
        None,
    )
    assert made["note"] == "rawat jalan"
    assert refer(net, report_id, service="medical", agency="RS-JATENG").status_code == 201


def test_a_referral_to_an_organisation_outside_keeps_working_and_its_answer_is_recorded_by_sender(
    net: Desk,
) -> None:
    report_id = claimed_report(net)
    outside = refer(net, report_id, service="psychosocial", organisation="Yayasan Pulih")
    assert outside.status_code == 201, outside.text
    body = outside.json()
    assert (body["to_agency"], body["organisation"]) == (None, "Yayasan Pulih")
    assert body["allowed_actions"] == ["accept", "decline", "revoke"]
    accepted = net.client.post(f"/api/v1/referrals/{body['id']}/accept", headers=net.login("sari"))
    assert accepted.status_code == 200
    assert accepted.json()["status"] == "accepted"
    report = net.client.get(f"/api/v1/reports/{report_id}", headers=net.login("sari")).json()
    assert report["status"] == "referred"


# -- states

LEGAL_MOVES = {
    "pending": {"accept": "accepted", "decline": "declined", "revoke": "revoked"},
    "accepted": {"done": "done", "revoke": "revoked"},
    "declined": {},
    "revoked": {},
    "done": {},
}
PATH_TO = {
    "pending": [],
    "accepted": ["accept"],
    "declined": ["decline"],
    "revoked": ["revoke"],
    "done": ["accept", "done"],
}


_tokens: dict[tuple[int, str], dict[str, str]] = {}


def move(net: Desk, referral_id: str, action: str) -> Any:
    """The side whose move it is makes it (a decline with a reason, done with an outcome)."""
    who = "sari" if action == "revoke" else "rina"
    if (id(net), who) not in _tokens:
        _tokens[(id(net), who)] = net.login(who)
    body = {"reason": "penuh"} if action == "decline" else {}
    if action == "done":
        body = {"outcome": "5 sesi konseling"}
    return net.client.post(
        f"/api/v1/referrals/{referral_id}/{action}", json=body, headers=_tokens[(id(net), who)]
    )


def test_every_legal_move_is_made_and_every_illegal_one_is_409(net: Desk) -> None:
    report_id = claimed_report(net)
    for start, legal in LEGAL_MOVES.items():
        for action in ("accept", "decline", "done", "revoke"):
            referral_id = referral_to_dinsos(net, report_id)
            for step in PATH_TO[start]:
                assert move(net, referral_id, step).status_code == 200
            answer = move(net, referral_id, action)
            if action in legal:
                assert answer.status_code == 200, (start, action, answer.text)
                assert answer.json()["status"] == legal[action]
            else:
                assert answer.status_code == 409, (start, action, answer.text)
                assert answer.json()["detail"] == f"cannot {action} a referral that is {start}"
                assert sorted(answer.json()["allowed"]) == sorted(legal)
                with net.database.unit() as session:
                    assert session.get(Referral, referral_id).status == start  # type: ignore[union-attr]


def test_each_side_makes_only_its_own_moves_and_declining_needs_a_reason(net: Desk) -> None:
    report_id = claimed_report(net)
    referral_id = referral_to_dinsos(net, report_id)
    sari, rina = net.login("sari"), net.login("rina")
    url = f"/api/v1/referrals/{referral_id}"
    assert net.client.post(f"{url}/accept", headers=sari).status_code == 403
    assert net.client.post(f"{url}/revoke", headers=rina).status_code == 403
    assert net.client.post(f"{url}/decline", json={}, headers=rina).status_code == 422
    assert net.client.post(f"{url}/decline", json={"reason": ""}, headers=rina).status_code == 422
    declined = net.client.post(f"{url}/decline", json={"reason": "kuota penuh"}, headers=rina)
    assert declined.status_code == 200
    assert declined.json()["reason"] == "kuota penuh"
    assert net.client.get(url, headers=sari).json()["reason"] == "kuota penuh"


def test_two_officers_accepting_at_once_get_one_200_and_one_409(
    net: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    report_id = claimed_report(net)
    referral_id = referral_to_dinsos(net, report_id)
    headers = {"rina": net.login("rina"), "tono": net.login("tono")}
    # Each accept holds its transaction a while after reading the referral: without the row lock
    # both would read "pending" and both would accept.
    original = triage.add_event

    def slow_event(*args: Any, **kwargs: Any) -> None:
        time.sleep(0.5)
        original(*args, **kwargs)

    monkeypatch.setattr(referrals, "add_event", slow_event)
    start = threading.Barrier(2)
    answers: dict[str, int] = {}

    def accept(name: str) -> None:
        start.wait()
        url = f"/api/v1/referrals/{referral_id}/accept"
        answers[name] = net.client.post(url, headers=headers[name]).status_code

    threads = [threading.Thread(target=accept, args=(name,)) for name in headers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(answers.values()) == [200, 409]
    assert audit_actions(net, report_id).count("referral.accept") == 1


# -- who sees what


def test_a_third_agency_gets_404_on_the_referral_and_its_report(net: Desk) -> None:
    report_id = claimed_report(net)
    referral_id = referral_to_dinsos(net, report_id)
    dewi = net.login("dewi")
    url = f"/api/v1/referrals/{referral_id}"
    assert net.client.get(url, headers=dewi).status_code == 404
    assert net.client.post(f"{url}/accept", headers=dewi).status_code == 404
    assert net.client.post(f"{url}/revoke", headers=dewi).status_code == 404
    assert net.client.get(f"/api/v1/reports/{report_id}", headers=dewi).status_code == 404
    assert net.client.get("/api/v1/referrals", headers=dewi).json()["items"] == []
    with console_login(net.client.app, "dewi") as browser:  # type: ignore[arg-type]
        assert browser.get(f"/console/referrals/{referral_id}").status_code == 404
        assert browser.get(f"/console/reports/{report_id}").status_code == 404
        assert referral_id not in browser.get("/console/referrals").text
    # The receiving agency reads the case through the referral only, not as its own report.
    rina = net.login("rina")
    assert net.client.get(f"/api/v1/reports/{report_id}", headers=rina).status_code == 404
    assert net.client.get(url, headers=rina).status_code == 200


CALLBACK = "+6281299990000"
REPLY_TO = "6281377778888"
REPLY_KEY = "canary-reply-key-0f3e"


def test_the_receiver_sees_answers_masked_story_and_files_never_the_reporters_contact(
    net: Desk,
) -> None:
    report_id = claimed_report(
        net, story="Tolong telepon tante 081211112222 malam ini.", callback=CALLBACK
    )
    cipher = net.runtime.crypto.cipher
    with net.database.unit() as session:
        report = session.get(Report, report_id)
        assert report is not None
        report.reply_channel = Channel.whatsapp
        report.reply_address = cipher.encrypt(ReplyAddress(REPLY_TO, REPLY_KEY).to_bytes())
        session.add(report)
    photo = net.attachment(report_id, b"\xff\xd8JPEGDATA")
    referral_id = referral_to_dinsos(net, report_id, note="Mohon konseling anak.")
    rina = net.login("rina")

    listed = net.client.get("/api/v1/referrals?direction=incoming", headers=rina)
    read = net.client.get(f"/api/v1/referrals/{referral_id}", headers=rina)
    assert read.status_code == 200
    body = read.json()
    assert (body["from_agency"], body["to_agency"], body["service"]) == (
        "PPA-JATENG",
        "DINSOS-SMG",
        "psychosocial",
    )
    assert body["note"] == "Mohon konseling anak."
    shown = body["report"]
    assert shown["category"] == "sexual"
    assert shown["needs"] == ["counselling"]
    assert "081211112222" not in shown["story"]
    assert "Tolong telepon tante" in shown["story"]
    assert [item["id"] for item in shown["attachments"]] == [photo]
    assert not {"contact", "callback", "reply_address", "reply_channel"} & set(shown)
    file = net.client.get(f"/api/v1/referrals/{referral_id}/attachments/{photo}", headers=rina)
    assert file.status_code == 200
    assert file.content == b"\xff\xd8JPEGDATA"
    with console_login(net.client.app, "rina") as browser:  # type: ignore[arg-type]
        console = browser.get(f"/console/referrals/{referral_id}")
    assert console.status_code == 200
    assert "Mohon konseling anak." in console.text
    for answer in (listed.text, read.text, console.text):
        for canary in ("81299990000", "81377778888", REPLY_KEY, "81211112222", "whatsapp"):
            assert canary not in answer
    assert "referral.attachment" in audit_actions(net, report_id)


def test_every_change_is_on_the_timeline_and_every_read_and_move_in_the_audit(net: Desk) -> None:
    report_id = claimed_report(net)
    referral_id = referral_to_dinsos(net, report_id, note="segera")
    sari, rina = net.login("sari"), net.login("rina")
    net.client.get(f"/api/v1/referrals/{referral_id}", headers=rina)
    move(net, referral_id, "accept")
    move(net, referral_id, "done")
    net.client.get(f"/api/v1/referrals/{referral_id}", headers=sari)
    timeline = net.client.get(f"/api/v1/reports/{report_id}/timeline", headers=sari).json()
    referral_events = [
        (item["kind"], item["officer"], item["detail"].get("to"), item["text"])
        for item in timeline["items"]
        if item["kind"].startswith("referral")
    ]
    assert referral_events == [
        ("referral", "sari", None, "segera"),
        ("referral_update", "rina", "accepted", None),
        ("referral_update", "rina", "done", "5 sesi konseling"),
    ]
    created = next(item for item in timeline["items"] if item["kind"] == "referral")
    assert created["detail"]["agency"] == "DINSOS-SMG"
    assert created["detail"]["referral"] == referral_id
    actions = audit_actions(net, report_id)
    assert actions[actions.index("report.referral") :] == [
        "report.referral",
        "referral.read",
        "referral.accept",
        "referral.done",
        "referral.read",
        "report.timeline",
    ]
    with net.database.unit() as session:
        reads = session.exec(
            select(AuditEvent.officer_id).where(AuditEvent.action == "referral.read")
        ).all()
        assert len(set(reads)) == 2  # one read on each side


def test_incoming_lists_pending_first_and_flags_those_waiting_too_long(net: Desk) -> None:
    report_id = claimed_report(net)
    old, answered, fresh = (referral_to_dinsos(net, report_id) for _ in range(3))
    move(net, answered, "accept")
    now = utcnow()
    with net.database.unit() as session:
        for referral_id, age in ((old, 49), (answered, 50), (fresh, 47)):
            referral = session.get(Referral, referral_id)
            assert referral is not None
            referral.created_at = now - timedelta(hours=age)
            session.add(referral)
    items = net.client.get("/api/v1/referrals", headers=net.login("rina")).json()["items"]
    assert [(item["id"], item["overdue"]) for item in items] == [
        (fresh, False),
        (old, True),
        (answered, False),
    ]
    assert net.runtime.flag_waiting_referrals(now) == 1
    with net.database.unit() as session:
        waiting = referrals.pending_too_long(now, 46, session=session)
        assert [referral.id for referral in waiting] == [old, fresh]
    outgoing = net.client.get("/api/v1/referrals?direction=outgoing", headers=net.login("sari"))
    assert {item["id"] for item in outgoing.json()["items"]} == {old, answered, fresh}


def test_a_referral_waiting_too_long_alerts_the_receiving_agencys_supervisors_once(
    net: Desk,
) -> None:
    with net.database.unit() as session:
        dinsos = session.exec(select(Agency.id).where(Agency.code == "DINSOS-SMG")).one()
        others = session.exec(
            select(Officer.id).where(col(Officer.username).in_(["rina", "ayu.spv"]))
        ).all()
    assert dinsos is not None
    supervisor = net.officer("budi.spv", dinsos, Role.supervisor)
    now = utcnow()
    address = net.runtime.crypto.cipher.encrypt_text("x@ppa.example")
    with net.database.unit() as session:
        for officer in (supervisor, *others):
            assert officer is not None
            set_email(officer, address, now, session=session)
            set_on_duty(officer, True, now, session=session)
    report_id = claimed_report(net)
    waiting = referral_to_dinsos(net, report_id)
    assert net.runtime.flag_waiting_referrals(now) == 0  # not yet overdue: nobody is alerted
    with net.database.unit() as session:
        referral = session.get(Referral, waiting)
        assert referral is not None
        referral.created_at = now - timedelta(hours=49)
        session.add(referral)
    for _ in range(2):  # a later sweep finds the same referral and adds nothing
        assert net.runtime.flag_waiting_referrals(now) == 1
    with net.database.unit() as session:
        queued = [
            (alert.officer_id, alert.kind)
            for alert in alerts_for_report(report_id, session=session)
            if alert.kind == AlertKind.referral_pending
        ]
    # The receiving agency's supervisor only: not its officer on duty, not the referring side.
    assert queued == [(supervisor, AlertKind.referral_pending)]


def test_each_change_of_a_referral_alerts_the_other_agencys_supervisors(net: Desk) -> None:
    with net.database.unit() as session:
        dinsos = session.exec(select(Agency.id).where(Agency.code == "DINSOS-SMG")).one()
        holder_spv = session.exec(select(Officer.id).where(Officer.username == "ayu.spv")).one()
    assert dinsos is not None
    assert holder_spv is not None
    receiver_spv = net.officer("budi.spv", dinsos, Role.supervisor)
    now = utcnow()
    address = net.runtime.crypto.cipher.encrypt_text("x@ppa.example")
    with net.database.unit() as session:
        for officer in (receiver_spv, holder_spv):
            set_email(officer, address, now, session=session)
    report_id = claimed_report(net)

    def alerted() -> list[tuple[int, str]]:
        with net.database.unit() as session:
            return sorted(
                (alert.officer_id, str(alert.kind))
                for alert in alerts_for_report(report_id, session=session)
            )

    referral = referral_to_dinsos(net, report_id)
    assert alerted() == [(receiver_spv, "referral_new")]
    move(net, referral, "accept")
    move(net, referral, "done")
    assert alerted() == [
        (holder_spv, "referral_accepted"),
        (holder_spv, "referral_done"),
        (receiver_spv, "referral_new"),
    ]


# -- the reporter


def test_the_reporter_reads_the_help_arranged_and_its_state_at_status_never_an_agency(
    tmp_path: Path, keys: Keys, database: Database
) -> None:
    app = whatsapp_app(tmp_path, keys, database)
    with TestClient(app, raise_server_exceptions=False) as client:
        desk = Desk(client=client, runtime=app.state.runtime)
        holder = desk.agency("PPA-LAMPUNG", regions=("18",))
        receiver = desk.agency("DINSOS-MESUJI-RAHASIA", regions=("18",), services=(PSY,))
        desk.officer("sari", holder)
        desk.officer("rina", receiver)
        phone = WhatsAppPhone(desk.runtime.inbox, client)
        receipt = phone.report(needs=("counselling",), contact="chat")
        with database.unit() as session:
            report_id = session.exec(select(Report.id)).one()
        sari, rina = desk.login("sari"), desk.login("rina")
        client.post(f"/api/v1/reports/{report_id}/claim", headers=sari)
        made = client.post(
            f"/api/v1/reports/{report_id}/referrals",
            json={"service": "psychosocial", "agency": "DINSOS-MESUJI-RAHASIA"},
            headers=sari,
        )
        read = client.get(f"/api/v1/referrals/{made.json()['id']}", headers=rina)
        assert WA_ID not in read.text
        sent = len(phone.outbox())
        accepted = client.post(f"/api/v1/referrals/{made.json()['id']}/accept", headers=rina)
        assert accepted.status_code == 200
        # She chose the chat: the news is pushed to it.
        pushed = [message.text for message in phone.outbox()[sent:]]
        assert len(pushed) == 1
        assert "Konseling: diterima" in pushed[0]
        phone.type("status")
        phone.type(receipt)
        shown = phone.outbox()[-1].text
        assert "Bantuan untukmu:" in shown
        assert "• Konseling: diterima" in shown
        for text in (*pushed, shown):
            assert "DINSOS" not in text
            assert "Agency" not in text
