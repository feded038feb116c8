"""WhatsApp Cloud API: the webhook signature, notifications into channel-neutral messages, and our
messages into Graph API payloads within WhatsApp's limits (shared/PROTOCOLS.md §1).

Parsing never raises: a notification of an unknown or broken shape yields what could be read and
skips the rest, because Meta retries anything but a 200 for a week.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any

from bot.messages import RESUME, InboundMessage, OutboundMessage
from flows.types import InputKind, UserInput
from storage.models import Channel

TEXT_LIMIT = 4096
BODY_LIMIT = 1024  # the text above buttons or a list
BUTTON_TITLE = 20
ROW_TITLE = 24
ROW_DESCRIPTION = 72
MAX_BUTTONS = 3
MAX_ROWS = 10
LIST_BUTTON = "Pilih · Choose"
MEDIA_KINDS = {"image": "photo", "video": "video", "document": "document", "audio": "audio"}


def signature_ok(app_secret: str, raw_body: bytes, header: str | None) -> bool:
    """``X-Hub-Signature-256`` is ``sha256=`` and the HMAC-SHA256 of the exact bytes received."""
    if not header or len(header) != 71 or not header.startswith("sha256="):
        return False
    expected = hmac.new(app_secret.encode(), raw_body, hashlib.sha256).hexdigest()
    return hmac.compare_digest("sha256=" + expected, header)


@dataclass(frozen=True)
class StatusUpdate:
    """A delivery receipt for one of our messages."""

    message_id: str
    status: str
    error_code: int | None = None


@dataclass
class Notification:
    messages: list[InboundMessage] = field(default_factory=list)
    statuses: list[StatusUpdate] = field(default_factory=list)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def parse_notification(payload: Any) -> Notification:
    found = Notification()
    if not isinstance(payload, dict) or payload.get("object") != "whatsapp_business_account":
        return found
    seen: set[str] = set()
    for entry in _dicts(payload.get("entry")):
        for change in _dicts(entry.get("changes")):
            value = change.get("value")
            if not isinstance(value, dict):
                continue
            for message in _dicts(value.get("messages")):
                inbound = _message(message)
                if inbound is not None and inbound.delivery_id not in seen:
                    seen.add(inbound.delivery_id)
                    found.messages.append(inbound)
            for status in _dicts(value.get("statuses")):
                message_id, state = _text(status.get("id")), _text(status.get("status"))
                if message_id and state:
                    errors = _dicts(status.get("errors"))
                    code = errors[0].get("code") if errors else None
                    found.statuses.append(
                        StatusUpdate(message_id, state, code if isinstance(code, int) else None)
                    )
    return found


def _message(message: dict[str, Any]) -> InboundMessage | None:
    # Usernames (business-scoped user ids) may come without a phone number in `from`.
    sender = _text(message.get("from")) or _text(message.get("from_user_id"))
    delivery_id = _text(message.get("id"))
    if not sender or not delivery_id:
        return None
    return InboundMessage(
        channel=Channel.whatsapp,
        delivery_id=delivery_id,
        identity=sender,
        address=sender,
        input=_input(message),
    )


def _input(message: dict[str, Any]) -> UserInput:
    kind = _text(message.get("type"))
    raw = message.get(kind)
    body: dict[str, Any] = raw if isinstance(raw, dict) else {}
    if kind in MEDIA_KINDS:
        found = _media(kind, body)
    else:
        reader = _READERS.get(kind)
        found = reader(body) if reader is not None else None
    # Stickers, reactions, locations, contacts, polls ("unsupported") and broken shapes.
    return found or UserInput(InputKind.unsupported)


def _typed(body: dict[str, Any]) -> UserInput | None:
    text = _text(body.get("body"))
    return UserInput.typed(text) if text.strip() else None


def _tapped(body: dict[str, Any]) -> UserInput | None:
    reply = body.get(_text(body.get("type")))  # button_reply or list_reply
    choice = _text(reply.get("id")) if isinstance(reply, dict) else ""
    return UserInput.pressed(choice) if choice else None


def _resume(_body: dict[str, Any]) -> UserInput:
    return UserInput(InputKind.event, event=RESUME)


_READERS = {
    "text": _typed,
    "interactive": _tapped,
    # A tap on the quick-reply button of our template ("there is an update"): its payload is
    # the button's text, not one of the flow's choices, so it shows where the conversation
    # stands, as a greeting would; the messages it was sent for go out with the window it opens.
    "button": _resume,
    "request_welcome": _resume,
}


def _media(kind: str, body: dict[str, Any]) -> UserInput | None:
    if not _text(body.get("id")):
        return None
    media_kind = "voice" if kind == "audio" and body.get("voice") is True else MEDIA_KINDS[kind]
    # The caption and the file name are the reporter's words or names: not kept.
    data = {
        "media_id": _text(body.get("id")),
        "mime_type": _text(body.get("mime_type"))[:100],
        "sha256": _text(body.get("sha256"))[:100],
    }
    return UserInput(InputKind.media, media_kind=media_kind, data=data)


# -- sending ------------------------------------------------------------------------------------


def render_template(name: str, language: str, to: str) -> dict[str, Any]:
    """The approved template that tells a reporter outside the 24-hour window that something
    waits for them (PROTOCOLS §1.11). No parameters: its neutral wording lives at Meta, and
    nothing of the report goes into a notification a lock screen may show."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {"name": name, "language": {"code": language}},
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at a paragraph, line or word where possible."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]  # a separator right after the limit still counts
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator, 0, limit)
            if cut >= limit // 2:
                break
        else:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _unique_titles(labels: list[str], limit: int) -> list[str]:
    titles: list[str] = []
    for number, label in enumerate(labels, 1):
        title = _clip(label, limit)
        if title in titles:
            title = _clip(f"{number}. {label}", limit)
        titles.append(title)
    return titles


def render(message: OutboundMessage, to: str) -> list[dict[str, Any]]:
    """Graph API message payloads for ``message``, in order. Up to 3 choices become reply
    buttons, 4 to 10 a list, more several lists (each picks on its own, no paging state)."""
    if message.action != "send":
        return []  # WhatsApp cannot delete a chat's messages
    base = {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to}
    choices = list(message.choices)
    if not choices:
        return [
            {**base, "type": "text", "text": {"preview_url": False, "body": piece}}
            for piece in split_text(message.text)
        ]
    pieces = split_text(message.text, BODY_LIMIT) or ["…"]
    payloads = [
        {**base, "type": "text", "text": {"preview_url": False, "body": piece}}
        for piece in pieces[:-1]
    ]
    body = {"text": pieces[-1]}
    if len(choices) <= MAX_BUTTONS:
        titles = _unique_titles([label for _, label in choices], BUTTON_TITLE)
        buttons = [
            {"type": "reply", "reply": {"id": choice_id, "title": title}}
            for (choice_id, _), title in zip(choices, titles, strict=True)
        ]
        interactive = {"type": "button", "body": body, "action": {"buttons": buttons}}
        return [*payloads, {**base, "type": "interactive", "interactive": interactive}]
    for start in range(0, len(choices), MAX_ROWS):
        group = choices[start : start + MAX_ROWS]
        titles = _unique_titles([label for _, label in group], ROW_TITLE)
        rows = []
        for (choice_id, label), title in zip(group, titles, strict=True):
            row = {"id": choice_id, "title": title}
            if title != label:
                row["description"] = _clip(label, ROW_DESCRIPTION)
            rows.append(row)
        if start:
            body = {"text": f"({start + 1}-{start + len(group)})"}
        interactive = {
            "type": "list",
            "body": body,
            "action": {"button": LIST_BUTTON, "sections": [{"rows": rows}]},
        }
        payloads.append({**base, "type": "interactive", "interactive": interactive})
    return payloads
