"""Channel-neutral messages between the channels and the inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from flows.types import InputKind, UserInput
from storage.models import Channel

# An event, not words: show the reporter where their conversation stands (the welcome, if new).
RESUME = "resume"
# An event: the reporter edited a message they had sent (Telegram); edits are not read.
EDITED = "edited"


@dataclass(frozen=True)
class InboundMessage:
    """One delivery from a channel. ``address`` is where replies go (a chat id, a WhatsApp id):
    never stored in clear; the inbox keeps it encrypted and only as long as it is needed."""

    channel: Channel
    delivery_id: str
    identity: str
    address: str
    input: UserInput
    # The message's id in the reporter's chat, where a quick exit can delete it (Telegram).
    message_id: int | None = None

    def payload(self) -> bytes:
        """What the inbound row keeps (encrypted) so a crash cannot lose the message."""
        data = {
            "channel": self.channel.value,
            "delivery_id": self.delivery_id,
            "identity": self.identity,
            "address": self.address,
            "message_id": self.message_id,
            "input": {
                "kind": self.input.kind.value,
                "text": self.input.text,
                "choice": self.input.choice,
                "media_kind": self.input.media_kind,
                "event": self.input.event,
                "data": self.input.data,
            },
        }
        return orjson.dumps(data)

    @classmethod
    def from_payload(cls, raw: bytes) -> InboundMessage:
        data = orjson.loads(raw)
        given = data["input"]
        return cls(
            channel=Channel(data["channel"]),
            delivery_id=data["delivery_id"],
            identity=data["identity"],
            address=data["address"],
            message_id=data.get("message_id"),
            input=UserInput(
                kind=InputKind(given["kind"]),
                text=given["text"],
                choice=given["choice"],
                media_kind=given["media_kind"],
                event=given["event"],
                data=given["data"],
            ),
        )


@dataclass(frozen=True)
class OutboundMessage:
    """A rendered message for one reporter: text and buttons ``(STEP:OPTION, label)``.

    ``action`` is ``send`` for a message, ``clear_chat`` to delete the conversation's messages where
    the platform allows it (quick exit on Telegram)."""

    text: str
    choices: tuple[tuple[str, str], ...] = ()
    action: str = "send"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        data = {"text": self.text, "choices": self.choices, "action": self.action, **self.extra}
        return orjson.dumps(data)

    @classmethod
    def from_bytes(cls, raw: bytes) -> OutboundMessage:
        data = orjson.loads(raw)
        return cls(
            text=data.pop("text"),
            choices=tuple((str(i), str(label)) for i, label in data.pop("choices")),
            action=data.pop("action"),
            extra=data,
        )


@dataclass(frozen=True)
class ReplyAddress:
    """Where an officer's message to a reporter goes: the chat address and the reporter's
    pseudonym. Kept encrypted on the report only when the reporter chose ``contact: chat``."""

    address: str
    reporter_key: str

    def to_bytes(self) -> bytes:
        return orjson.dumps({"address": self.address, "key": self.reporter_key})

    @classmethod
    def from_bytes(cls, raw: bytes) -> ReplyAddress:
        data = orjson.loads(raw)
        return cls(address=str(data["address"]), reporter_key=str(data["key"]))
