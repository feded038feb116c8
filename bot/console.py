"""The terminal channel (``lapor chat``): the real flow, the real inbox, the same database.

Buttons are shown numbered; a reply is a number, a button's label, or free text. The terminal's
identity is a random id kept in the state directory, so a restarted ``lapor chat`` resumes the
conversation where it was. Replies go through the outbox like on any channel; this channel is its
own sender and prints them.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from pathlib import Path

from bot.inbox import Inbox
from bot.messages import RESUME, InboundMessage, OutboundMessage
from flows.types import InputKind, UserInput
from storage import outbox
from storage.models import Channel

CONSOLE_ID_FILE = "console-id"


def console_identity(state_dir: Path) -> str:
    """This terminal's random id, made once (mode 0600) and kept for resuming."""
    path = state_dir / CONSOLE_ID_FILE
    if not path.exists():
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(16))
    return path.read_text().strip()


class ConsoleSession:
    """One terminal conversation: send what the person typed, get back what the bot says."""

    def __init__(self, inbox: Inbox, identity: str) -> None:
        self.inbox = inbox
        self.identity = identity
        self.reporter_key = inbox.reporter_key(Channel.console, identity)
        self.choices: tuple[tuple[str, str], ...] = ()

    def resume(self) -> list[OutboundMessage]:
        """Show where the conversation stands (the welcome, for a new one)."""
        return self._send(UserInput(InputKind.event, event=RESUME))

    def say(self, typed: str) -> list[OutboundMessage]:
        stripped = typed.strip()
        if stripped.isdigit() and 1 <= int(stripped) <= len(self.choices):
            return self._send(UserInput.pressed(self.choices[int(stripped) - 1][0]))
        return self._send(UserInput.typed(typed))

    def _send(self, user_input: UserInput) -> list[OutboundMessage]:
        message = InboundMessage(
            channel=Channel.console,
            delivery_id=str(uuid.uuid4()),
            identity=self.identity,
            address=Channel.console.value,
            input=user_input,
        )
        self.inbox.handle(message)
        delivered = self._deliver()
        for shown in reversed(delivered):
            if shown.choices:
                self.choices = shown.choices
                break
        else:
            self.choices = ()
        return delivered

    def _deliver(self) -> list[OutboundMessage]:
        inbox = self.inbox
        with inbox.database.unit() as session:
            pending = outbox.pending_for_reporter(
                Channel.console, self.reporter_key, session=session
            )
            shown = [
                OutboundMessage.from_bytes(inbox.crypto.cipher.decrypt(item.payload))
                for item in pending
            ]
            for item in pending:
                outbox.mark_sent(item, inbox.clock(), session=session)
        return shown


def format_message(message: OutboundMessage) -> str:
    lines = [message.text]
    lines += [f"  {number}) {label}" for number, (_, label) in enumerate(message.choices, 1)]
    return "\n".join(lines)


def run_console(
    session: ConsoleSession,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> None:
    """The read-print loop; ends at end of input (Ctrl-D) with the conversation kept."""
    for message in session.resume():
        write(format_message(message) + "\n")
    while True:
        try:
            typed = read("> ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        for message in session.say(typed):
            write(format_message(message) + "\n")
