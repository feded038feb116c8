"""Fuzzing the channels' parsers: whatever a platform (or an attacker with the secret) sends,
parsing never raises and yields only well-formed messages, or a kind "unsupported" input.

``make fuzz`` runs every test here with at least 100,000 inputs (the ``fuzz`` hypothesis profile,
tests/conftest.py); ``make test`` runs the default depth.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.routes.webhooks import read_update
from bot.messages import RESUME
from bot.whatsapp import parse_notification
from flows.types import InputKind
from storage.models import Channel

pytestmark = pytest.mark.fuzz

CANARY = "Siti Rahayu"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=True)
    | st.text(max_size=30)
)
junk = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly the right shape, sometimes anything at all."""
    return st.one_of(strategy, strategy, strategy, junk)


def shaped(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict with any subset of ``fields`` (each possibly of the wrong type)."""
    return st.fixed_dictionaries(
        {}, optional={name: maybe(value) for name, value in fields.items()}
    )


WA_TYPES = [
    *("text", "interactive", "button", "image", "audio", "video", "document", "sticker"),
    *("location", "contacts", "reaction", "unsupported", "request_welcome", "order"),
]
ids = st.one_of(st.text("0123456789", min_size=1, max_size=15), st.text(max_size=20))

# -- WhatsApp ---------------------------------------------------------------------------------

wa_media = shaped(
    id=ids,
    mime_type=st.sampled_from(["image/jpeg", "audio/ogg", "application/pdf", ""]),
    sha256=st.text(max_size=64),
    caption=st.just(CANARY),
    filename=st.just(f"{CANARY}.pdf"),
    voice=st.booleans(),
)
wa_reply = shaped(id=st.text(max_size=40), title=st.text(max_size=24))
wa_message = shaped(
    **{
        "from": ids,
        "from_user_id": ids,
        "id": ids,
        "timestamp": ids,
        "type": st.sampled_from(WA_TYPES),
        "text": shaped(body=st.text(max_size=200)),
        "interactive": shaped(
            type=st.sampled_from(["button_reply", "list_reply", "nfm_reply"]),
            button_reply=wa_reply,
            list_reply=wa_reply,
        ),
        "button": shaped(payload=st.text(max_size=40), text=st.text(max_size=40)),
        "image": wa_media,
        "audio": wa_media,
        "video": wa_media,
        "document": wa_media,
        "location": shaped(latitude=st.floats(), longitude=st.floats(), name=st.just(CANARY)),
        "contacts": st.lists(shaped(name=shaped(formatted_name=st.just(CANARY))), max_size=2),
    }
)
wa_status = shaped(
    id=ids,
    status=st.sampled_from(["sent", "delivered", "read", "failed", ""]),
    recipient_id=ids,
    errors=st.lists(shaped(code=st.integers(0, 200_000), title=st.text(max_size=20)), max_size=2),
)
wa_notification = shaped(
    object=st.sampled_from(["whatsapp_business_account", "page", ""]),
    entry=st.lists(
        shaped(
            id=ids,
            changes=st.lists(
                shaped(
                    field=st.just("messages"),
                    value=shaped(
                        messaging_product=st.just("whatsapp"),
                        contacts=st.lists(shaped(profile=shaped(name=st.just(CANARY)))),
                        messages=st.lists(wa_message, max_size=4),
                        statuses=st.lists(wa_status, max_size=3),
                    ),
                ),
                max_size=3,
            ),
        ),
        max_size=3,
    ),
)


@settings(deadline=None)
@given(wa_notification)
def test_whatsapp_notifications_parse_into_well_formed_messages(payload: Any) -> None:
    notification = parse_notification(payload)
    delivery_ids = [message.delivery_id for message in notification.messages]
    assert len(set(delivery_ids)) == len(delivery_ids)
    for message in notification.messages:
        assert message.channel is Channel.whatsapp
        assert message.identity
        assert message.delivery_id
        assert message.address == message.identity
        assert CANARY not in repr(message)  # names, captions and file names are not kept
        kind = message.input.kind
        if kind is InputKind.event:
            assert message.input.event == RESUME  # "request_welcome": show where things stand
        if kind is InputKind.text:
            assert message.input.text.strip()
        if kind is InputKind.choice:
            assert message.input.choice
        if kind is InputKind.media:
            assert message.input.data["media_id"]
    for status in notification.statuses:
        assert status.message_id
        assert status.status


# -- Telegram ---------------------------------------------------------------------------------

tg_user = shaped(
    id=st.integers(-(2**53), 2**53),
    is_bot=st.booleans(),
    first_name=st.just(CANARY),
    username=st.just("siti_rahayu"),
)
tg_chat = shaped(
    id=st.integers(-(2**53), 2**53),
    type=st.sampled_from(["private", "group", "supergroup", "channel", "sender"]),
    first_name=st.just(CANARY),
)
tg_file = shaped(
    file_id=ids,
    file_unique_id=ids,
    width=st.integers(0, 5000),
    height=st.integers(0, 5000),
    duration=st.integers(0, 5000),
    file_size=st.integers(-1, 2**40),
    mime_type=st.sampled_from(["image/jpeg", "audio/ogg", "application/pdf"]),
    file_name=st.just(f"{CANARY}.pdf"),
)
tg_message = shaped(
    message_id=st.integers(0, 2**31),
    date=st.integers(0, 2**32),
    chat=tg_chat,
    **{"from": tg_user},
    text=st.text(max_size=100) | st.sampled_from(["/start", "/start@LaporAmanBot", "/START x"]),
    caption=st.just(CANARY),
    photo=st.lists(tg_file, max_size=3),
    voice=tg_file,
    audio=tg_file,
    video=tg_file,
    document=tg_file,
    sticker=tg_file,
    location=shaped(latitude=st.floats(-90, 90), longitude=st.floats(-180, 180)),
    contact=shaped(phone_number=st.just("081234567890"), first_name=st.just(CANARY)),
)
tg_member = shaped(
    status=st.sampled_from(["member", "kicked", "left", "administrator"]), user=tg_user
)
tg_update = shaped(
    update_id=st.integers(-(2**31), 2**31),
    message=tg_message,
    edited_message=tg_message,
    channel_post=tg_message,
    callback_query=shaped(
        id=ids,
        **{"from": tg_user},
        message=tg_message,
        chat_instance=ids,
        data=st.text(max_size=64),
    ),
    my_chat_member=shaped(
        chat=tg_chat,
        **{"from": tg_user},
        date=st.integers(0, 2**32),
        old_chat_member=tg_member,
        new_chat_member=tg_member,
    ),
)


@settings(deadline=None)
@given(tg_update)
def test_telegram_updates_become_events_or_are_refused(data: Any) -> None:
    event = read_update(json.dumps(data).encode(), None)
    if event is None or event.message is None:
        return  # refused with a 400, or nothing for the inbox
    message = event.message
    assert message.channel is Channel.telegram
    assert message.delivery_id == str(data["update_id"])
    assert message.identity
    assert message.address
    assert CANARY not in repr(message)  # names, captions and file names are not kept
    if message.input.kind is InputKind.media:
        assert message.input.data["file_id"]
