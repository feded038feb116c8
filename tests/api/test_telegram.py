"""Telegram end to end: updates over the webhook (and by polling), python-telegram-bot talking to a
fake Bot API server on loopback through its ``base_url``; no PTB internals patched."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select
from typer.testing import CliRunner

from api import cli
from api.main import create_app
from bot.inbox import Inbox
from bot.messages import OutboundMessage
from storage.agencies import create_agency
from storage.chat_messages import remember_messages
from storage.crypto import Keys
from storage.db import Database, Unit
from storage.models import Channel, ChatMessage, Inbound, OutboxMessage, OutboxStatus, Report
from tests.api.conftest import make_settings
from tests.fake_telegram import TOKEN, FakeBotApi
from tests.fakes import serve
from tests.support import Phone, wait_until_sent

SECRET = "s3cret-Token_for-tests"
USER_ID = 7770001234
CANARY_NAME = "Siti Canary"
CANARY_USERNAME = "siti_canary_99"


@pytest.fixture
def bot_api() -> Iterator[tuple[FakeBotApi, str]]:
    fake = FakeBotApi()
    with serve(fake.app()) as base:
        yield fake, base


def telegram_app(
    tmp_path: Path, keys: Keys, database: Database, base: str, **overrides: Any
) -> FastAPI:
    values: dict[str, Any] = {
        "database_url": database.url.render_as_string(False),
        "telegram_token": TOKEN,
        "telegram_mode": "webhook",
        "telegram_webhook_secret": SECRET,
        "telegram_api_url": f"{base}/bot",
        "telegram_file_url": f"{base}/file/bot",
        "send_poll_seconds": 0.05,
        "telegram_chat_seconds": 0,
    }
    settings = make_settings(tmp_path, keys, **{**values, **overrides})
    return create_app(settings, database=database)


@pytest.fixture
def tg(
    tmp_path: Path, keys: Keys, database: Database, bot_api: tuple[FakeBotApi, str]
) -> Iterator[tuple[TestClient, FastAPI, FakeBotApi]]:
    fake, base = bot_api
    app = telegram_app(tmp_path, keys, database, base)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, app, fake


def user() -> dict[str, Any]:
    return {
        "id": USER_ID,
        "is_bot": False,
        "first_name": CANARY_NAME,
        "username": CANARY_USERNAME,
        "language_code": "id",
    }


def chat() -> dict[str, Any]:
    return {
        "id": USER_ID,
        "first_name": CANARY_NAME,
        "username": CANARY_USERNAME,
        "type": "private",
    }


class TelegramPhone(Phone):
    """A reporter on Telegram: every message is an update POSTed to the webhook."""

    channel = Channel.telegram

    def __init__(self, inbox: Inbox, client: TestClient, bot_api: FakeBotApi) -> None:
        super().__init__(inbox, str(USER_ID))
        self.client = client
        self.bot_api = bot_api
        self.typed_ids: list[int] = []  # the chat's ids of the messages the reporter typed

    def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        return int(self.client.post("/webhooks/telegram", json=update, headers=headers).status_code)

    def update(self, **body: Any) -> dict[str, Any]:
        self.sent += 1
        return {"update_id": 500000000 + self.sent, **body}

    def type(self, text: str) -> bool:
        self.typed_ids.append(100 + self.sent)
        message = {
            "message_id": 100 + self.sent,
            "from": user(),
            "chat": chat(),
            "date": 1767225600,
        }
        return self.post(self.update(message={**message, "text": text})) == 200

    def press(self, choice: str) -> bool:
        query = {
            "id": f"43820000{self.sent}",
            "from": user(),
            "message": {
                "message_id": 5,
                "from": {"id": 900000001, "is_bot": True, "first_name": "B"},
                "chat": chat(),
                "date": 1767225601,
                "text": "…",
            },
            "chat_instance": "-1234567890123456789",
            "data": choice,
        }
        return self.post(self.update(callback_query=query)) == 200

    def outbox(self) -> list[OutboundMessage]:
        wait_until_sent(self.inbox.database)
        return [OutboundMessage(text) for text in self.bot_api.texts()]


def rows(database: Database, model: type) -> int:
    with database.unit() as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


@pytest.mark.parametrize("secret", [None, "wrong-secret"])
def test_a_missing_or_wrong_secret_is_401_and_stores_nothing(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database, secret: str | None
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    message = {"message_id": 1, "from": user(), "chat": chat(), "date": 1, "text": "halo"}
    assert phone.post(phone.update(message=message), secret=secret) == 401
    assert rows(database, Inbound) == 0


@pytest.mark.parametrize(
    "body",
    [
        # Found by the fuzz tests (tests/fuzz): PTB reads these without complaint, and reading
        # them further failed with a 500, which Telegram would retry.
        {"my_chat_member": {"chat": chat(), "from": user(), "date": 1}},
        {"message": {"message_id": 1, "from": user(), "date": 1, "text": "halo"}},
        {"callback_query": {"id": "1", "chat_instance": "1", "data": "welcome:start"}},
        # Found by make fuzz: numbers too large for a datetime overflowed inside PTB.
        {"message": {"message_id": 1, "from": user(), "chat": chat(), "date": 2**63}},
        {
            "message": {
                "message_id": 1,
                "from": user(),
                "chat": chat(),
                "date": 1,
                "voice": {"file_id": "a", "file_unique_id": "b", "duration": 10**14},
            }
        },
    ],
)
def test_an_update_missing_its_required_parts_is_400_and_stores_nothing(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database, body: dict[str, Any]
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    assert phone.post(phone.update(**body)) == 400
    assert rows(database, Inbound) == 0


def test_a_whole_report_over_telegram_with_every_button_answered(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    with database.unit() as session:
        create_agency(
            "PPA-LAMPUNG", "UPTD PPA Lampung", regions=["18"], national=False, session=session
        )
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    receipt = phone.report()
    with database.unit() as session:
        assert session.exec(select(Report)).one().province == "18"
    sent = fake.sent()
    assert sum(receipt in str(params["text"]) for params in sent) == 1
    assert all(params.get("protect_content") in ("true", True) for params in sent)
    buttons = [
        button["callback_data"]
        for params in sent
        if "reply_markup" in params
        for row in params["reply_markup"]["inline_keyboard"]
        for button in row
    ]
    assert "welcome:start" in buttons
    assert all(":" in data and len(data.encode()) <= 64 for data in buttons)
    typed = 4  # "halo", the province, the regency and the story; every other update was a tap
    # Each tap is answered after its 200, by the transport's own loop: the last may still be on
    # its way. Each exactly once, none lost.
    deadline = time.monotonic() + 10
    while len(fake.called("answerCallbackQuery")) < phone.sent - typed:
        assert time.monotonic() < deadline, "a button was never answered"
        time.sleep(0.02)
    answered = [params["callback_query_id"] for params in fake.called("answerCallbackQuery")]
    assert len(answered) == len(set(answered)) == phone.sent - typed


def test_fifty_duplicate_updates_half_concurrent_make_one_turn_and_one_reply(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    update = phone.update(
        message={"message_id": 1, "from": user(), "chat": chat(), "date": 1, "text": "halo"}
    )
    first = [phone.post(update) for _ in range(25)]
    with ThreadPoolExecutor(max_workers=25) as pool:
        second = list(pool.map(lambda _: phone.post(update), range(25)))
    assert set(first + second) == {200}
    assert rows(database, Inbound) == 1
    wait_until_sent(database)
    assert len(fake.texts()) == 1


def test_quick_exit_deletes_the_conversation_from_the_chat_on_both_sides(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    inbox = app.state.runtime.inbox
    phone = TelegramPhone(inbox, client, fake)
    key = inbox.reporter_key(Channel.telegram, str(USER_ID))
    with database.unit() as session:  # a message from three days ago: Telegram keeps it
        remember_messages(key, [7], datetime.now(UTC) - timedelta(days=3), unit=Unit.of(session))
    phone.type("halo")
    phone.press("welcome:start")
    phone.type("ini rahasia")
    wait_until_sent(database)
    shown = [params["message_id"] for params in fake.sent()]
    phone.type("hapus")
    wait_until_sent(database)
    deleted = fake.called("deleteMessages")
    assert len(deleted) == 1
    assert int(deleted[0]["chat_id"]) == USER_ID
    assert sorted(json.loads(deleted[0]["message_ids"])) == sorted([*phone.typed_ids, *shown])
    last = fake.sent()[-1]
    assert last["text"] == inbox.flows.catalogue.text("exit.done", "id")
    with database.unit() as session:  # only the goodbye is left to delete next time
        left = session.exec(select(ChatMessage.message_id)).all()
    assert left == [last["message_id"]]


def test_a_429_is_retried_after_the_time_telegram_asks(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    fake.refusals = [
        (
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        )
    ]
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    started = time.monotonic()
    phone.type("halo")
    wait_until_sent(database)
    assert time.monotonic() - started >= 1
    assert len(fake.texts()) == 1
    with database.unit() as session:
        row = session.exec(select(OutboxMessage)).one()
        assert (row.attempts, row.last_error) == (1, "telegram:429")


def test_a_reporter_who_blocked_the_bot_is_not_written_to_again(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    fake.refusals = [
        (
            403,
            {
                "ok": False,
                "error_code": 403,
                "description": "Forbidden: bot was blocked by the user",
            },
        )
    ]
    phone.type("halo")
    wait_until_sent(database)
    with database.unit() as session:
        row = session.exec(select(OutboxMessage)).one()
        assert row.status == OutboxStatus.failed
        assert row.payload == b""
    kicked = {
        "chat": chat(),
        "from": user(),
        "date": 1767225700,
        "old_chat_member": {
            "user": {"id": 900000001, "is_bot": True, "first_name": "B"},
            "status": "member",
        },
        "new_chat_member": {
            "user": {"id": 900000001, "is_bot": True, "first_name": "B"},
            "status": "kicked",
            "until_date": 0,
        },
    }
    assert phone.post(phone.update(my_chat_member=kicked)) == 200


def test_an_edited_message_gets_a_short_note_and_changes_nothing(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    phone.type("halo")
    edited = {
        "message_id": 101,
        "from": user(),
        "chat": chat(),
        "date": 1,
        "edit_date": 2,
        "text": "ubah",
    }
    assert phone.post(phone.update(edited_message=edited)) == 200
    texts = [message.text for message in phone.outbox()]
    note = app.state.runtime.inbox.flows.catalogue.text("edited", "id")
    assert texts[-1] == note


def test_stickers_and_locations_get_a_kind_reply(
    tg: tuple[TestClient, FastAPI, FakeBotApi], database: Database
) -> None:
    client, app, fake = tg
    phone = TelegramPhone(app.state.runtime.inbox, client, fake)
    phone.type("halo")
    base = {"from": user(), "chat": chat(), "date": 1}
    sticker = {
        "file_id": "s1",
        "file_unique_id": "u1",
        "width": 1,
        "height": 1,
        "is_animated": False,
        "is_video": False,
        "type": "regular",
    }
    for extra in ({"sticker": sticker}, {"location": {"latitude": -6.2, "longitude": 106.8}}):
        assert (
            phone.post(phone.update(message={"message_id": 200 + phone.sent, **base, **extra}))
            == 200
        )
    unsupported = app.state.runtime.inbox.flows.catalogue.text("unsupported", "id")
    assert [m.text for m in phone.outbox()].count(unsupported) == 2


def test_polling_mode_takes_updates_from_get_updates(
    tmp_path: Path, keys: Keys, database: Database, bot_api: tuple[FakeBotApi, str]
) -> None:
    fake, base = bot_api
    fake.updates = [
        {
            "update_id": 1,
            "message": {"message_id": 1, "from": user(), "chat": chat(), "date": 1, "text": "halo"},
        }
    ]
    app = telegram_app(
        tmp_path, keys, database, base, telegram_mode="polling", telegram_webhook_secret=None
    )
    with TestClient(app, raise_server_exceptions=False):
        deadline = time.monotonic() + 20
        while not fake.texts():
            assert time.monotonic() < deadline, fake.calls[-5:]
            time.sleep(0.05)
    assert fake.texts()[0].startswith("Halo. Ini Lapor Aman")
    assert rows(database, Inbound) == 1


def test_set_webhook_tells_the_bot_api_the_url_and_the_secret(
    bot_api: tuple[FakeBotApi, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake, base = bot_api
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "LAPOR_TELEGRAM_TOKEN": TOKEN,
        "LAPOR_TELEGRAM_MODE": "webhook",
        "LAPOR_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "LAPOR_TELEGRAM_API_URL": f"{base}/bot",
    }.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(
        cli.app, ["telegram", "set-webhook", "https://lapor.example/webhooks/telegram"]
    )
    assert result.exit_code == 0, result.output
    [call] = fake.called("setWebhook")
    assert call["url"] == "https://lapor.example/webhooks/telegram"
    assert call["secret_token"] == SECRET
    assert "my_chat_member" in call["allowed_updates"]
