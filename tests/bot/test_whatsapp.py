"""WhatsApp parsing and rendering without a network: never a crash, always within the limits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session

from bot.inbox import Inbox
from bot.messages import RESUME, InboundMessage, OutboundMessage
from bot.whatsapp import (
    BODY_LIMIT,
    BUTTON_TITLE,
    ROW_DESCRIPTION,
    ROW_TITLE,
    TEXT_LIMIT,
    parse_notification,
    render,
    render_template,
    split_text,
)
from bot.window import Templates, Windows
from flows.types import InputKind, UserInput
from storage import windows as storage_windows
from storage.crypto import Crypto
from storage.db import Database, Unit
from storage.models import Channel

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "object",
                    "entry",
                    "changes",
                    "value",
                    "messages",
                    "statuses",
                    "from",
                    "id",
                    "type",
                    "text",
                    "body",
                    "interactive",
                    "button_reply",
                    "list_reply",
                    "image",
                    "errors",
                    "from_user_id",
                    "status",
                    "voice",
                    "audio",
                    "button",
                    "payload",
                ]
            ),
            children,
            max_size=6,
        )
    ),
    max_leaves=30,
)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_any_json_at_all_parses_without_raising(payload: Any) -> None:
    parse_notification(payload)
    parse_notification({"object": "whatsapp_business_account", "entry": payload})
    parse_notification(
        {"object": "whatsapp_business_account", "entry": [{"changes": [{"value": payload}]}]}
    )


def message(**fields: Any) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"changes": [{"value": {"messages": [{"from": "62811", "id": "w1", **fields}]}}]}
        ],
    }


def test_taps_texts_and_files_become_the_flows_inputs() -> None:
    tap = parse_notification(
        message(type="interactive", interactive={"type": "list_reply", "list_reply": {"id": "a:b"}})
    ).messages[0]
    assert (tap.input.kind, tap.input.choice) == (InputKind.choice, "a:b")
    voice = parse_notification(
        message(type="audio", audio={"id": "m1", "voice": True, "mime_type": "audio/ogg"})
    ).messages[0]
    assert (voice.input.kind, voice.input.media_kind) == (InputKind.media, "voice")
    assert voice.input.data["media_id"] == "m1"
    photo = parse_notification(
        message(type="image", image={"id": "m2", "caption": "Siti di rumah"})
    ).messages[0]
    assert "Siti" not in repr(photo.input)  # captions are not kept


def test_a_tap_on_the_templates_button_resumes_the_conversation() -> None:
    # Its payload is the button's text (the template is sent without parameters): not a choice.
    for button in ({"payload": "Lihat pembaruan", "text": "Lihat pembaruan"}, {}, None):
        tap = parse_notification(message(type="button", button=button)).messages[0]
        assert (tap.input.kind, tap.input.event) == (InputKind.event, RESUME)


def test_the_template_has_a_name_and_a_language_and_nothing_else() -> None:
    assert render_template("lapor_update", "id", "62811") == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "62811",
        "type": "template",
        "template": {"name": "lapor_update", "language": {"code": "id"}},
    }


def test_the_same_message_twice_in_one_batch_is_taken_once() -> None:
    payload = message(type="text", text={"body": "halo"})
    value = payload["entry"][0]["changes"][0]["value"]
    value["messages"] = value["messages"] * 2
    assert len(parse_notification(payload).messages) == 1


def test_a_message_without_sender_or_id_is_skipped() -> None:
    payload = message(type="text", text={"body": "halo"})
    del payload["entry"][0]["changes"][0]["value"]["messages"][0]["from"]
    assert parse_notification(payload).messages == []


LABELS = st.text(min_size=1, max_size=60).filter(lambda label: label.strip() != "")


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=9000), labels=st.lists(LABELS, max_size=16))
def test_rendered_messages_respect_whatsapps_limits(text: str, labels: list[str]) -> None:
    choices = tuple((f"step:option{n}", label) for n, label in enumerate(labels))
    payloads = render(OutboundMessage(text=text, choices=choices), "62811")
    offered: list[str] = []
    for payload in payloads:
        assert payload["to"] == "62811"
        if payload["type"] == "text":
            assert 0 < len(payload["text"]["body"]) <= TEXT_LIMIT
            continue
        interactive = payload["interactive"]
        assert len(interactive["body"]["text"]) <= BODY_LIMIT
        if interactive["type"] == "button":
            buttons = interactive["action"]["buttons"]
            titles = [b["reply"]["title"] for b in buttons]
            assert len(buttons) <= 3
            assert all(0 < len(title) <= BUTTON_TITLE for title in titles)
            assert len(set(titles)) == len(titles)
            offered += [b["reply"]["id"] for b in buttons]
        else:
            rows = interactive["action"]["sections"][0]["rows"]
            assert len(labels) >= 4
            assert len(rows) <= 10
            assert all(0 < len(row["title"]) <= ROW_TITLE for row in rows)
            assert all(len(row.get("description", "")) <= ROW_DESCRIPTION for row in rows)
            offered += [row["id"] for row in rows]
    # Every choice is offered exactly once, in order.
    assert offered == [choice_id for choice_id, _ in choices]


def test_a_long_text_is_split_at_word_boundaries() -> None:
    text = ("kata " * 2000).strip()
    pieces = split_text(text)
    assert all(len(piece) <= TEXT_LIMIT for piece in pieces)
    assert " ".join(pieces) == text


def test_quick_exit_sends_nothing_on_whatsapp() -> None:
    assert render(OutboundMessage(text="", action="clear_chat"), "62811") == []


def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The keys of the windows read from the database from now on."""
    reads: list[str] = []
    read_window = storage_windows.read_window

    def counted(key: str, *, session: Session) -> storage_windows.Window | None:
        reads.append(key)
        return read_window(key, session=session)

    monkeypatch.setattr(storage_windows, "read_window", counted)
    return reads


def test_an_open_window_is_read_once_until_it_may_have_closed(
    database: Database, crypto: Crypto, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    reads = counted_reads(monkeypatch)
    templates = Templates(("lapor_aman_balasan",), "id")
    windows = Windows(database, crypto.hasher, templates, clock=lambda: now[0])
    key = crypto.hasher.pseudonym("whatsapp", "6281234567890")
    with database.unit() as session:
        storage_windows.open_window(key, now[0], unit=Unit.of(session))
    assert not windows.closed("6281234567890")
    now[0] += timedelta(hours=23)
    assert not windows.closed("6281234567890")
    assert len(reads) == 1  # the second look needed no read: they wrote 23 hours ago
    now[0] += timedelta(hours=1)
    assert windows.closed("6281234567890")  # 24 hours: read again, and closed
    assert len(reads) == 2
    with database.unit() as session:
        storage_windows.open_window(key, now[0], unit=Unit.of(session))
    assert not windows.closed("6281234567890")  # they wrote again
    assert len(reads) == 3


def test_a_committed_turn_opens_the_window_for_the_sender_without_a_read(
    inbox: Inbox, crypto: Crypto, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = counted_reads(monkeypatch)
    windows = Windows(inbox.database, crypto.hasher, Templates(("lapor_aman_balasan",), "id"))
    inbox.on_wrote = windows.wrote

    def halo(channel: Channel, delivery: str, sender: str) -> InboundMessage:
        return InboundMessage(channel, delivery, sender, sender, UserInput.typed("halo"))

    assert inbox.handle(halo(Channel.telegram, "tg-1", "777"))
    assert windows.closed("6281234567890") is False  # unknown: read, and tried
    assert len(reads) == 1
    whatsapp = halo(Channel.whatsapp, "wamid.1", "6281234567890")
    assert inbox.handle(whatsapp)
    assert inbox.handle(whatsapp) is False  # a duplicate: no turn
    assert windows.closed("6281234567890") is False
    assert len(reads) == 1  # the turn said so: no read
    with inbox.database.unit() as session:  # and the database agrees: the turn opened it
        key = crypto.hasher.pseudonym("whatsapp", "6281234567890")
        stored = storage_windows.read_window(key, session=session)
    assert stored is not None
    assert stored.last_inbound_at is not None
    assert stored.notice is None
