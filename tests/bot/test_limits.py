"""Limits per reporter on a real database (SQLite and PostgreSQL), shared by processes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from bot.inbox import Inbox, InboxConfig
from flows.machine import Flows
from storage.crypto import Crypto
from storage.models import Conversation, Report
from tests.support import Phone

START = datetime(2026, 3, 2, 20, tzinfo=UTC)
SLOW_DOWN = "Pesanmu banyak sekali dalam waktu singkat"
TOO_MANY = "Kamu sudah mengirim 5 laporan dalam satu jam terakhir"


def reports(inbox: Inbox) -> int:
    with inbox.database.unit() as session:
        return int(session.exec(select(func.count()).select_from(Report)).one())


def test_a_sixth_report_in_an_hour_waits_as_a_draft_and_goes_later(inbox: Inbox) -> None:
    clock = [START]
    inbox.clock = lambda: clock[0]
    inbox.config = InboxConfig(burst_messages=10_000)
    phone = Phone(inbox)
    for _ in range(5):
        phone.report()
        phone.type("ulang")
        clock[0] += timedelta(minutes=5)
    assert reports(inbox) == 5

    phone.report()
    assert reports(inbox) == 5
    assert phone.outbox()[-1].text.startswith(TOO_MANY)
    with inbox.database.unit() as session:
        assert session.exec(select(Conversation)).one().state == "review"

    clock[0] = START + timedelta(minutes=61)
    phone.press("review:submit")
    assert reports(inbox) == 6
    assert "*" in phone.outbox()[-1].text  # the receipt code, in bold


def test_a_burst_gets_one_kind_reply_and_the_rest_is_not_read(
    inbox: Inbox, crypto: Crypto, flows: Flows
) -> None:
    config = InboxConfig(burst_messages=3, burst_window=timedelta(seconds=60))
    clock = [START]
    inbox.config = config
    inbox.clock = lambda: clock[0]
    # Another process on the same database: the limit counts both.
    other = Inbox(inbox.database, crypto, flows, config, clock=lambda: clock[0])
    phone, same_phone = Phone(inbox), Phone(other)
    same_phone.sent = 1000  # its deliveries have ids of their own
    for sent in range(3):
        (phone if sent % 2 else same_phone).type("halo")
        clock[0] += timedelta(seconds=1)
    read = len(phone.outbox())
    assert read >= 3
    for sent in range(5):
        (phone if sent % 2 else same_phone).type("halo")
        clock[0] += timedelta(seconds=1)
    answers = [message.text for message in phone.outbox()[read:]]
    assert len(answers) == 1
    assert answers[0].startswith(SLOW_DOWN)

    before = len(phone.outbox())
    phone.type("darurat")  # the emergency word is always read
    emergency = [message.text for message in phone.outbox()[before:]]
    assert any("Kalau ada bahaya sekarang, hubungi" in text for text in emergency)

    clock[0] += timedelta(seconds=61)
    before = len(phone.outbox())
    phone.type("halo")
    again = [message.text for message in phone.outbox()[before:]]
    assert again
    assert not any(text.startswith(SLOW_DOWN) for text in again)
