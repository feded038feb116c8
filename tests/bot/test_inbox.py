"""The inbox on a real database (SQLite and PostgreSQL): once, durable, anonymous."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlmodel import func, select

from bot import inbox as inbox_module
from bot.inbox import Inbox, InboxConfig
from flows import engine
from flows.types import UserInput
from storage import reports
from storage.agencies import create_agency
from storage.db import Unit
from storage.masking import mask_pii
from storage.models import (
    Channel,
    Conversation,
    Inbound,
    InboundStatus,
    OutboxMessage,
    Priority,
    Report,
    ReportStatus,
)
from tests.support import CHAT_ID, STORY, Phone


def count(inbox: Inbox, model: type) -> int:
    with inbox.database.unit() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def test_a_duplicate_delivery_is_processed_once(inbox: Inbox) -> None:
    phone = Phone(inbox)
    first = phone.message(UserInput.typed("halo"), delivery="update-1")
    assert inbox.handle(first) is True
    assert inbox.handle(first) is False
    assert count(inbox, Inbound) == 1
    assert len(phone.outbox()) == 1


def test_concurrent_duplicates_make_one_turn(inbox: Inbox) -> None:
    phone = Phone(inbox)
    message = phone.message(UserInput.typed("halo"), delivery="update-concurrent")
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(inbox.handle(message))) for _ in range(12)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1
    assert len(phone.outbox()) == 1


def test_a_report_is_stored_routed_and_masked(inbox: Inbox) -> None:
    with inbox.database.unit() as session:
        create_agency("NASIONAL", "Nasional", regions=[], national=True, session=session)
        create_agency(
            "LAMPUNG", "UPTD PPA Lampung", regions=["18"], national=False, session=session
        )
        mesuji = create_agency(
            "MESUJI", "UPTD PPA Mesuji", regions=["18.11"], national=False, session=session
        )
    receipt = Phone(inbox).report()
    with inbox.database.unit() as session:
        report = session.exec(select(Report)).one()
        assert report.agency_id == mesuji.id
        assert report.priority == "high"  # ongoing violence
        assert report.province == "18"
        assert report.regency == "18.11"
        assert report.needs == ["legal"]
        assert (report.category, report.when, report.contact) == (
            "psychological",
            "this_week",
            "chat",
        )
        assert report.danger is False
        # Written as one row without an ORM object: what the model's defaults gave is given.
        assert report.status == ReportStatus.new
        assert report.reference.startswith("LA-")
        assert report.created_at == report.updated_at
        assert report.sla_due_at == report.created_at + reports.DEFAULT_SLA[Priority.high]
        assert report.claimed_by is None
        # The reporter chose to be written back to in this chat, for as long as configured.
        assert report.reply_channel == Channel.telegram
        assert report.reply_expires_at == report.created_at + InboxConfig().reply_address_ttl
        assert report.reply_address is not None
        assert report.story is not None
        assert report.story_masked is not None
        assert inbox.crypto.cipher.decrypt_text(report.story) == STORY
        masked = inbox.crypto.cipher.decrypt_text(report.story_masked)
        assert masked == mask_pii(STORY)
        assert "0812" not in masked
        assert "1871014501900001" not in masked
        assert "siti.rahayu" not in masked
        found = reports.find_report_by_receipt(receipt, hasher=inbox.crypto.hasher, session=session)
        assert found is not None
        assert found.id == report.id


def test_a_report_is_counted_once_when_its_group_runs_again(inbox: Inbox) -> None:
    """On SQLite a group of turns runs again (with savepoints) when one of them fails: the
    submission in it is written once, and counted and logged once, after its commit."""
    phone = Phone(inbox)
    phone.report(submit=False)
    before = REGISTRY.get_sample_value("lapor_reports_submitted_total") or 0

    def broken(_unit: Unit) -> None:
        raise RuntimeError("a neighbour's turn fails")

    with inbox.database.unit():  # on SQLite both wait for one group, the submission first
        submitted = inbox.submit(phone.message(UserInput.pressed("review:submit")))
        neighbour = inbox.database.submit(broken)
    assert submitted.result(timeout=30) is True
    with pytest.raises(RuntimeError):
        neighbour.result(timeout=30)
    assert REGISTRY.get_sample_value("lapor_reports_submitted_total") == before + 1
    assert count(inbox, Report) == 1
    assert "*" in phone.outbox()[-1].text  # the receipt


@pytest.mark.parametrize("field", ["weapon", "status", "claimed_by"])
def test_an_answer_the_report_has_no_column_for_is_refused(inbox: Inbox, field: str) -> None:
    """Only the conversation's answers: not an unknown column, nor one the report fills itself
    or an officer's work does."""
    new = reports.NewReport(
        fields={"category": "physical", field: "1"},
        priority=Priority.normal,
        danger=False,
        locale="id",
        receipt_hash="0" * 64,
        story=None,
        story_masked=None,
        callback_phone=None,
        reply_channel=None,
        reply_address=None,
    )
    with pytest.raises(ValueError, match=field), inbox.database.unit() as session:
        reports.create_report(new, datetime.now(UTC), conversation_id=None, unit=Unit.of(session))
    assert count(inbox, Report) == 0


def test_a_province_without_agency_goes_to_the_national_one(inbox: Inbox) -> None:
    with inbox.database.unit() as session:
        national = create_agency("NASIONAL", "Nasional", regions=[], national=True, session=session)
        create_agency("BALI", "UPTD PPA Bali", regions=["51"], national=False, session=session)
    Phone(inbox).report()
    with inbox.database.unit() as session:
        assert session.exec(select(Report)).one().agency_id == national.id


def test_nothing_identifying_is_stored_in_clear(inbox: Inbox) -> None:
    Phone(inbox).report()
    canaries = [CHAT_ID, "0812-3456-7890", "081234567890", "1871014501900001", "siti.rahayu"]
    with inbox.database.engine.connect() as connection:
        for table in ("conversation", "inbound", "outbox", "report", "report_message"):
            for row in connection.execute(sa.text(f"SELECT * FROM {table}")).all():  # noqa: S608
                dumped = " ".join(
                    value.decode("latin-1") if isinstance(value, bytes) else str(value)
                    for value in row
                )
                for canary in canaries:
                    assert canary not in dumped, (table, canary)


def test_an_expired_draft_starts_fresh_with_a_note(inbox: Inbox) -> None:
    now = [datetime(2026, 11, 22, 8, tzinfo=UTC)]
    inbox.clock = lambda: now[0]
    phone = Phone(inbox)
    phone.type("halo")
    phone.press("welcome:start")
    now[0] += timedelta(hours=25)
    phone.type("halo")
    last_two = [message.text for message in phone.outbox()[-2:]]
    assert "lama tidak dilanjutkan" in last_two[0]
    assert last_two[1].startswith("Halo. Ini Lapor Aman")


def test_receipt_lookups_are_limited_and_answer_alike(inbox: Inbox) -> None:
    inbox.config = InboxConfig(receipt_failures=3)
    receipt = Phone(inbox).report()
    guesser = Phone(inbox, identity="555")
    guesser.type("status")
    for guess in ("AAAA-BBBB-2CCC-D", "AAAA-BBBB-3CCC-D", "AAAA-BBBB-4CCC-D"):
        guesser.type(guess)
    guesser.type(receipt)  # right, but locked out: the same answer as a wrong code
    texts = [message.text for message in guesser.outbox()]
    assert texts[-2] == texts[-4]
    assert "tidak kami temukan" in texts[-2]
    other = Phone(inbox, identity="556")
    other.type("status")
    other.type(receipt.lower().replace("-", " "))
    assert "Status laporan" in other.outbox()[-1].text


def test_a_turn_that_crashes_is_finished_later_without_loss_or_double(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    phone = Phone(inbox)
    real_step = engine.step
    calls = {"n": 0}

    def crash_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("power cut")
        return real_step(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "step", crash_once)
    message = phone.message(UserInput.typed("halo"))
    recorded = inbox.record(message)
    assert recorded is not None
    assert inbox.process(recorded) is False
    assert count(inbox, OutboxMessage) == 0
    assert count(inbox, Conversation) == 0
    assert inbox.process(recorded) is True
    assert inbox.process(recorded) is False
    assert len(phone.outbox()) == 1
    with inbox.database.unit() as session:
        row = session.exec(select(Inbound)).one()
        assert row.status == InboundStatus.done
        assert row.payload is None


def test_a_turn_that_keeps_crashing_ends_with_an_apology(
    inbox: Inbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    def always(*_args: object, **_kwargs: object) -> object:
        raise RuntimeError("bug")

    monkeypatch.setattr(engine, "step", always)
    phone = Phone(inbox)
    recorded = inbox.record(phone.message(UserInput.typed("halo")))
    assert recorded is not None
    for _ in range(inbox_module.MAX_ATTEMPTS):
        assert inbox.process(recorded) is False
    texts = [message.text for message in phone.outbox()]
    assert len(texts) == 1
    assert texts[0].startswith("Maaf, ada gangguan")
    with inbox.database.unit() as session:
        assert session.exec(select(Inbound)).one().status == InboundStatus.failed


def test_a_turn_that_queued_replies_wakes_the_sender_after_its_commit(inbox: Inbox) -> None:
    woken: list[int] = []

    def on_committed() -> None:
        # Called after the commit: what the turn queued is there for the sender to read.
        woken.append(count(inbox, OutboxMessage))

    inbox.on_committed = on_committed
    phone = Phone(inbox)
    message = phone.message(UserInput.typed("halo"))
    assert inbox.handle(message) is True
    assert woken == [1]
    assert inbox.handle(message) is False  # a duplicate queues nothing, wakes nobody
    assert woken == [1]


def test_turns_submitted_at_once_each_get_their_own_replies(inbox: Inbox) -> None:
    phones = [Phone(inbox, identity=f"6281200000{number:02d}") for number in range(20)]
    futures = [inbox.submit(phone.message(UserInput.typed("halo"))) for phone in phones]
    assert [future.result(timeout=60) for future in futures] == [True] * 20
    assert all(len(phone.outbox()) == 1 for phone in phones)
    assert count(inbox, Inbound) == 20
