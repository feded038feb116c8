"""The outbox sender against a fake Graph API server on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import select
from telegram import Bot

from bot.inbox import Inbox
from bot.messages import OutboundMessage
from bot.sender import Backoff, OutboxSender, WhatsAppTransport, budget_for, burst_of
from bot.telegram import DirectRequest, TelegramTransport
from bot.window import Templates, Windows
from storage import outbox
from storage.crypto import Crypto
from storage.db import Database, Unit
from storage.models import Channel, OutboxMessage, OutboxStatus
from tests.fake_telegram import TOKEN, FakeBotApi
from tests.fakes import FakeGraph, graph_error, serve
from tests.support import Phone

WA_ID = "6281234567890"


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)  # near the inbox's own clock, which the tests also use

    def __call__(self) -> datetime:
        return self.now

    def pass_(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    with serve(fake.app()) as base:
        yield fake, f"{base}/v23.0"


@pytest.fixture
def clock() -> Clock:
    return Clock()


def make_sender(
    database: Database,
    crypto: Crypto,
    api_url: str,
    clock: Clock,
    windows: Windows | None = None,
    **kwargs: object,
) -> OutboxSender:
    transport = WhatsAppTransport(
        api_url, "100000000000001", "graph-token", rate=1000, windows=windows
    )
    return OutboxSender(
        database,
        crypto,
        [transport],
        backoff=Backoff(base=1, cap=60, max_attempts=5),
        clock=clock,
        **kwargs,  # type: ignore[arg-type]
    )


def enqueue(
    database: Database,
    crypto: Crypto,
    clock: Clock,
    message: OutboundMessage,
    *,
    channel: Channel = Channel.whatsapp,
    reporter_key: str = "reporter-key",
    address: str = WA_ID,
) -> int:
    with database.unit() as session:
        row = outbox.enqueue(
            channel,
            reporter_key,
            crypto.cipher.encrypt_text(address),
            crypto.cipher.encrypt(message.to_bytes()),
            clock(),
            session=session,
        )
        assert row.id is not None
        return row.id


def row(database: Database, message_id: int) -> OutboxMessage:
    with database.unit() as session:
        found = session.get(OutboxMessage, message_id)
        assert found is not None
        return found


def test_a_message_is_sent_once_and_forgotten(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    sender = make_sender(database, crypto, url, clock)
    message_id = enqueue(
        database, crypto, clock, OutboundMessage("Mau mulai?", (("a:yes", "Ya"), ("a:no", "Tidak")))
    )
    assert sender.run_once() == 1
    assert sender.run_once() == 0
    assert len(fake.sent) == 1
    assert fake.sent[0]["to"] == WA_ID
    assert fake.sent[0]["interactive"]["type"] == "button"
    assert fake.tokens == {"Bearer graph-token"}
    sent = row(database, message_id)
    assert sent.status == OutboxStatus.sent
    assert sent.payload == b""
    assert sent.address == b""
    assert sent.provider_key == crypto.hasher.delivery_key("whatsapp-out", "wamid.BOT00001")


def test_rate_limits_and_server_errors_are_retried_with_backoff(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    fake.refusals = [(400, graph_error(130429, "Rate limit hit")), (503, {"message": "busy"})]
    sender = make_sender(database, crypto, url, clock)
    message_id = enqueue(database, crypto, clock, OutboundMessage("Terima kasih."))
    sender.run_once()
    first = row(database, message_id)
    assert (first.status, first.attempts, first.last_error) == (
        OutboxStatus.pending,
        1,
        "graph:130429",
    )
    assert sender.run_once() == 0  # not before its time
    clock.pass_(61)
    sender.run_once()
    assert row(database, message_id).attempts == 2
    clock.pass_(61)
    sender.run_once()
    assert row(database, message_id).status == OutboxStatus.sent
    assert fake.texts() == ["Terima kasih."]


def test_outside_the_24_hour_window_a_message_waits_for_the_reporter(
    database: Database, crypto: Crypto, inbox: Inbox, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    fake.refusals = [(400, graph_error(131047, "Re-engagement message"))]
    sender = make_sender(database, crypto, url, clock)
    held_id = enqueue(
        database,
        crypto,
        clock,
        OutboundMessage("Pesan dari petugas."),
        reporter_key=inbox.reporter_key(Channel.whatsapp, WA_ID),
    )
    sender.run_once()
    assert row(database, held_id).status == OutboxStatus.held
    clock.pass_(3600)
    assert sender.run_once() == 0
    # The reporter writes again: the window opens and the held message goes out.
    Phone(inbox, WA_ID, Channel.whatsapp).type("halo")
    sender.run_once()
    assert row(database, held_id).status == OutboxStatus.sent
    assert "Pesan dari petugas." in fake.texts()


def test_a_message_the_platform_will_never_take_fails_and_is_dropped(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    fake.refusals = [(400, graph_error(100, "Invalid parameter"))]
    sender = make_sender(database, crypto, url, clock)
    message_id = enqueue(database, crypto, clock, OutboundMessage("x"))
    sender.run_once()
    failed = row(database, message_id)
    assert failed.status == OutboxStatus.failed
    assert failed.payload == b""


def test_no_network_is_retried_and_nothing_is_lost(
    database: Database, crypto: Crypto, clock: Clock
) -> None:
    sender = make_sender(database, crypto, "http://127.0.0.1:9/v23.0", clock)
    message_id = enqueue(database, crypto, clock, OutboundMessage("Halo"))
    sender.run_once()
    waiting = row(database, message_id)
    assert waiting.status == OutboxStatus.pending
    assert waiting.last_error == "network:NewConnectionError"
    assert crypto.cipher.decrypt_text(waiting.address) == WA_ID


def test_a_long_message_resumes_after_the_parts_already_sent(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    text = "\n\n".join(f"Bagian {n}: " + "kata " * 700 for n in range(3))  # three pieces
    sender = make_sender(database, crypto, url, clock)
    message_id = enqueue(database, crypto, clock, OutboundMessage(text))
    fake.refusals = [None, (503, {"message": "busy"})]  # the first piece goes, the second not
    sender.run_once()
    assert row(database, message_id).parts_sent == 1
    clock.pass_(61)
    sender.run_once()
    assert row(database, message_id).status == OutboxStatus.sent
    assert len(fake.sent) == 3
    assert [body.startswith(f"Bagian {n}") for n, body in enumerate(fake.texts())] == [True] * 3


def test_two_senders_at_once_send_each_message_exactly_once(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    ids = [enqueue(database, crypto, clock, OutboundMessage(f"pesan {n}")) for n in range(60)]
    senders = [make_sender(database, crypto, url, clock, batch=5) for _ in range(2)]

    def drain(sender: OutboxSender) -> int:
        total = 0
        while (tried := sender.run_once()) > 0:
            total += tried
        return total

    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = list(pool.map(drain, senders))
    assert sum(counts) == 60
    assert sorted(fake.texts()) == sorted(f"pesan {n}" for n in range(60))
    with database.unit() as session:
        statuses = set(session.exec(select(OutboxMessage.status)).all())
    assert statuses == {OutboxStatus.sent}
    assert len(ids) == 60


def test_a_sender_that_dies_mid_send_leaves_the_message_to_another_after_the_lease(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    message_id = enqueue(database, crypto, clock, OutboundMessage("Halo"))
    with database.unit() as session:  # a sender leases the message, then its process is killed
        assert (
            len(
                outbox.claim_due(
                    Channel.whatsapp,
                    clock(),
                    timedelta(minutes=2),
                    limit=10,
                    unit=Unit.of(session),
                )
            )
            == 1
        )
    survivor = make_sender(database, crypto, url, clock)
    assert survivor.run_once() == 0
    clock.pass_(121)
    assert survivor.run_once() == 1
    assert row(database, message_id).status == OutboxStatus.sent
    assert fake.texts() == ["Halo"]


def enqueue_for(database: Database, crypto: Crypto, clock: Clock, chat: str, text: str) -> int:
    """A message for a Telegram chat (its own pseudonym, so its own pace)."""
    return enqueue(
        database,
        crypto,
        clock,
        OutboundMessage(text),
        channel=Channel.telegram,
        reporter_key=f"reporter-{chat}",
        address=chat,
    )


def test_a_chat_waiting_for_its_pace_does_not_hold_up_other_chats(
    database: Database, crypto: Crypto, clock: Clock
) -> None:
    fake = FakeBotApi()
    with serve(fake.app()) as base:
        bot = Bot(
            TOKEN,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=DirectRequest(4),
        )
        transport = TelegramTransport(bot, chat_seconds=1.0)
        sender = OutboxSender(database, crypto, [transport], clock=clock)
        # One chat got a turn with two replies, then four other chats got one each.
        enqueue_for(database, crypto, clock, "111", "pertama")
        enqueue_for(database, crypto, clock, "111", "kedua")
        for chat in ("222", "333", "444", "555"):
            enqueue_for(database, crypto, clock, chat, f"untuk {chat}")
        assert sender.run_once() == 6
    sends = [
        (params["text"], at)
        for (method, params), at in zip(fake.calls, fake.times, strict=True)
        if method == "sendmessage"
    ]
    at = dict(sends)
    assert [text for text, _ in sends][-1] == "kedua"  # the chat's order kept
    assert at["kedua"] - at["pertama"] >= 0.95  # its pace kept
    # Nobody else waited for that second: every other chat's reply went before it.
    assert max(at[f"untuk {chat}"] for chat in ("222", "333", "444", "555")) < at["kedua"] - 0.5


def test_a_woken_sender_sends_at_once_without_waiting_for_its_poll(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    transport = WhatsAppTransport(url, "100000000000001", "graph-token", rate=1000)
    sender = OutboxSender(database, crypto, [transport], poll=60, clock=clock)
    stop = threading.Event()
    worker = threading.Thread(target=sender.run_forever, args=(stop,), daemon=True)
    worker.start()
    try:
        time.sleep(0.3)  # the first round found nothing; the next poll is a minute away
        enqueue(database, crypto, clock, OutboundMessage("Halo"))
        woken = time.monotonic()
        sender.wake()
        deadline = woken + 10
        while not fake.sent:
            assert time.monotonic() < deadline, "the woken sender did not send"
            time.sleep(0.01)
        assert fake.times[0] - woken < 5  # far below the poll
    finally:
        stop.set()
        sender.wake()
        worker.join(10)
        sender.stop()
    assert fake.texts() == ["Halo"]


def test_a_batch_of_outcomes_is_recorded_in_one_transaction(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    ids = [enqueue(database, crypto, clock, OutboundMessage(f"pesan {n}")) for n in range(20)]
    sender = make_sender(database, crypto, url, clock)
    commits: list[object] = []
    through_sqlalchemy: list[str] = []

    def count(connection: object) -> None:
        commits.append(connection)

    def statement(*args: object) -> None:
        through_sqlalchemy.append(str(args[2]))

    sa.event.listen(database.engine, "commit", count)
    sa.event.listen(database.engine, "before_cursor_execute", statement)
    try:
        assert sender.run_once() == 20
    finally:
        sa.event.remove(database.engine, "commit", count)
        sa.event.remove(database.engine, "before_cursor_execute", statement)
    assert len(fake.sent) == 20
    assert len(commits) == 2  # the lease, and every outcome together
    # All sent: one statement through the driver marks them, and the ORM reads no row back.
    assert not [text for text in through_sqlalchemy if "outbox" in text]
    assert {row(database, message_id).status for message_id in ids} == {OutboxStatus.sent}


def test_senders_in_three_processes_share_one_send_rate(
    database: Database, crypto: Crypto, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    """On PostgreSQL three senders, each with its own engine as a process has, keep WhatsApp's
    rate together; on SQLite one process sends, with its budget in the process."""
    fake, url = graph
    rate, total = 40.0, 200
    for n in range(total):
        enqueue(database, crypto, clock, OutboundMessage(f"pesan {n}"))
    shared = database.backend != "sqlite"
    databases = [Database(database.url) for _ in range(3 if shared else 1)]
    senders = [
        OutboxSender(
            own,
            crypto,
            [
                WhatsAppTransport(
                    url,
                    "100000000000001",
                    "graph-token",
                    budget=budget_for(own, "whatsapp:100000000000001", rate),
                )
            ],
            batch=10,
            clock=clock,
        )
        for own in databases
    ]

    def drain(sender: OutboxSender) -> int:
        total = 0
        while (tried := sender.run_once()) > 0:
            total += tried
        return total

    try:
        with ThreadPoolExecutor(max_workers=len(senders)) as pool:
            counts = list(pool.map(drain, senders))
    finally:
        for sender, own in zip(senders, databases, strict=True):
            sender.stop()
            own.dispose()
    assert sum(counts) == total
    assert len(fake.sent) == total
    assert all(count > 0 for count in counts)  # every sender took part
    # The rate the platform saw, past the first burst, timed by the fake itself.
    skip = burst_of(rate)
    measured = (total - 1 - skip) / (fake.times[-1] - fake.times[skip])
    assert rate * 0.9 <= measured <= rate * 1.1, f"{measured:.1f}/s against {rate}/s"


def test_a_message_held_while_the_reporter_writes_goes_at_once(
    database: Database, crypto: Crypto, inbox: Inbox, graph: tuple[FakeGraph, str], clock: Clock
) -> None:
    fake, url = graph
    fake.templates = {("lapor_update", "id"): "APPROVED"}
    windows = Windows(database, crypto.hasher, Templates(("lapor_update",), "id"), clock=clock)
    sender = make_sender(database, crypto, url, clock, windows)
    inbox.clock = clock
    phone = Phone(inbox, WA_ID, Channel.whatsapp)
    phone.type("halo")
    sender.run_once()
    clock.pass_(24 * 3600)
    waiting_id = enqueue(
        database,
        crypto,
        clock,
        OutboundMessage("Pesan dari petugas."),
        reporter_key=inbox.reporter_key(Channel.whatsapp, WA_ID),
    )
    fake.gate = threading.Event()
    with ThreadPoolExecutor(max_workers=1) as pool:
        round_ = pool.submit(sender.run_once)
        assert fake.arrived.wait(10)  # the template is on its way...
        phone.type("ini aku")  # ...when the reporter writes, finding nothing held yet
        fake.gate.set()
        assert round_.result(10) == 1
    assert fake.templates_sent() == ["lapor_update"]
    assert row(database, waiting_id).status == OutboxStatus.pending  # not held for nothing
    sender.run_once()
    assert row(database, waiting_id).status == OutboxStatus.sent
    assert fake.texts().count("Pesan dari petugas.") == 1


def test_a_telegram_transport_takes_only_a_bot_whose_calls_need_no_event_loop() -> None:
    with pytest.raises(TypeError):
        TelegramTransport(Bot(TOKEN))  # PTB's httpx request: its calls suspend


def test_no_bot_api_is_retried_on_telegram_and_nothing_is_lost(
    database: Database, crypto: Crypto, clock: Clock
) -> None:
    bot = Bot(TOKEN, base_url="http://127.0.0.1:9/bot", request=DirectRequest(4))
    sender = OutboxSender(database, crypto, [TelegramTransport(bot)], clock=clock)
    message_id = enqueue_for(database, crypto, clock, "111", "halo")
    assert sender.run_once() == 1
    waiting = row(database, message_id)
    assert waiting.status == OutboxStatus.pending
    assert (waiting.last_error or "").startswith("telegram:")
    assert crypto.cipher.decrypt_text(waiting.address) == "111"
