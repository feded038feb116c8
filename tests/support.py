"""A reporter's phone for tests: deliveries into the inbox, replies read from the outbox."""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlmodel import func, select

from bot.inbox import Inbox
from bot.messages import InboundMessage, OutboundMessage
from flows.types import UserInput
from storage.db import Database
from storage.models import Channel, OutboxMessage, OutboxStatus

CHAT_ID = "987654321012"
STORY = "Nomor saya 0812-3456-7890, NIK 1871014501900001, email siti.rahayu@example.org."
REPORT_PATH = (
    "welcome:start",
    "danger:no",
    "consent:agree",
    "reporter:self",
    "victim_age:adult",
    "victim_gender:female",
    "category:psychological",
    "ongoing:yes",
    "when:this_week",
)
AFTER_REGION = ("place:home", "perpetrator:known")


class Phone:
    channel = Channel.telegram

    def __init__(
        self, inbox: Inbox, identity: str = CHAT_ID, channel: Channel | None = None
    ) -> None:
        if channel is not None:
            self.channel = channel
        self.inbox = inbox
        self.identity = identity
        self.sent = 0

    def message(self, user_input: UserInput, delivery: str | None = None) -> InboundMessage:
        self.sent += 1
        return InboundMessage(
            channel=self.channel,
            delivery_id=delivery or f"{self.identity}-{self.sent}",
            identity=self.identity,
            address=self.identity,
            input=user_input,
        )

    def type(self, text: str) -> bool:
        return self.inbox.handle(self.message(UserInput.typed(text)))

    def press(self, choice: str) -> bool:
        return self.inbox.handle(self.message(UserInput.pressed(choice)))

    def outbox(self) -> list[OutboundMessage]:
        key = self.inbox.reporter_key(self.channel, self.identity)
        with self.inbox.database.unit() as session:
            rows = session.exec(
                select(OutboxMessage)
                .where(OutboxMessage.reporter_key == key)
                .order_by(OutboxMessage.id)  # type: ignore[arg-type]
            ).all()
            return [
                OutboundMessage.from_bytes(self.inbox.crypto.cipher.decrypt(row.payload))
                for row in rows
            ]

    def report(
        self,
        *,
        province: str = "lampung",
        regency: str = "mesuji",
        needs: tuple[str, ...] = ("legal",),
        contact: str = "chat",
        evidence: Callable[[], object] | None = None,
        submit: bool = True,
    ) -> str:
        """File a whole report; its receipt code. ``evidence`` sends files at that step;
        ``submit=False`` stops at the review (and returns "")."""
        self.type("halo")
        for choice in REPORT_PATH:
            self.press(choice)
        self.type(province)
        self.type(regency)
        for choice in AFTER_REGION:
            self.press(choice)
        self.type(STORY)
        self.press("story:done")
        if evidence is None:
            self.press("evidence:skip")
        else:
            evidence()
            self.press("evidence:done")
        for choice in (f"needs:{n}" for n in needs):
            self.press(choice)
        self.press("needs:done")
        self.press(f"contact:{contact}")
        if not submit:
            return ""
        self.press("review:submit")
        receipt_text = self.outbox()[-1].text
        return receipt_text.split("*")[1]


def wait_until_sent(database: Database, seconds: float = 20) -> None:
    """Wait until the outbox sender has nothing pending (it runs in the app's background)."""
    deadline = time.monotonic() + seconds
    while True:
        with database.unit() as session:
            pending = session.exec(
                select(func.count()).where(OutboxMessage.status == OutboxStatus.pending)
            ).one()
        if not pending:
            return
        assert time.monotonic() < deadline, "the sender did not deliver"
        time.sleep(0.05)
