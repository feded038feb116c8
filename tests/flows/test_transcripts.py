"""Golden transcripts: whole conversations, as a reporter would see them, through the real inbox.

Each file in ``transcripts/`` lists what the person does (``you``) and what the bot says (``bot``,
with its ``buttons``). ``you: "[Label]"`` presses the button with that label; the rest is typed.
``{receipt}`` in what you type is the last receipt the bot gave (``{receipt-sloppy}``: the same code
in lower case with spaces). ``officer: text`` is an officer writing to the reporter of the last
report; ``chat: other`` continues from another phone. ``expect`` checks what the database holds.
Set ``LAPOR_UPDATE_GOLDEN=1`` to rewrite the bot's side from the current texts, then read the diff.
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlmodel import func, select

from bot.console import ConsoleSession
from bot.inbox import Inbox
from bot.messages import OutboundMessage
from storage import reports
from storage.models import Conversation, MessageDirection, Report
from storage.receipts import parse_receipt

TRANSCRIPTS = Path(__file__).with_name("transcripts")
RECEIPT_SHOWN = re.compile(r"\*([0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z])\*")
RECEIPT_MASK = "XXXX-XXXX-XXXX-X"
UPDATE = os.environ.get("LAPOR_UPDATE_GOLDEN") == "1"


class Player:
    def __init__(self, inbox: Inbox, name: str) -> None:
        self.inbox = inbox
        self.sessions = {
            "this": ConsoleSession(inbox, f"{name}-phone"),
            "other": ConsoleSession(inbox, f"{name}-other-phone"),
        }
        self.session = self.sessions["this"]
        self.receipt = ""
        self.log: list[dict[str, Any]] = []

    def shown(self, messages: list[OutboundMessage]) -> None:
        for message in messages:
            found = RECEIPT_SHOWN.search(message.text)
            if found:
                self.receipt = found.group(1)
            entry: dict[str, Any] = {"bot": RECEIPT_SHOWN.sub(f"*{RECEIPT_MASK}*", message.text)}
            if message.choices:
                entry["buttons"] = [f"{label} ({choice})" for choice, label in message.choices]
            self.log.append(entry)

    def you(self, said: str) -> None:
        self.log.append({"you": said})
        typed = said.replace("{receipt}", self.receipt).replace(
            "{receipt-sloppy}", self.receipt.lower().replace("-", " ")
        )
        pressed = re.fullmatch(r"\[(.+)\]", typed)
        if pressed:
            label = pressed.group(1)
            choice = next(
                (choice for choice, shown in self.session.choices if shown == label), None
            )
            assert choice is not None, f"no button {label!r} in {self.session.choices}"
            number = [choice for choice, _ in self.session.choices].index(choice) + 1
            self.shown(self.session.say(str(number)))
        else:
            self.shown(self.session.say(typed))

    def officer(self, text: str) -> None:
        self.log.append({"officer": text})
        canonical = parse_receipt(self.receipt)
        assert canonical is not None
        inbox = self.inbox
        with inbox.database.unit() as session:
            report = reports.find_report_by_receipt(
                canonical, hasher=inbox.crypto.hasher, session=session
            )
            assert report is not None
            reports.add_message(
                report.id,
                MessageDirection.to_reporter,
                inbox.crypto.cipher.encrypt_text(text),
                inbox.clock(),
                session=session,
            )

    def switch(self, chat: str) -> None:
        self.log.append({"chat": chat})
        self.session = self.sessions[chat]
        self.shown(self.session.resume())


class _Dumper(yaml.SafeDumper):
    """Writes multi-line texts as literal blocks, the way they read in a chat."""


def _text(dumper: yaml.SafeDumper, text: str) -> yaml.Node:
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _text)


def _counts(inbox: Inbox) -> dict[str, int]:
    with inbox.database.unit() as session:
        return {
            "reports": session.exec(select(func.count()).select_from(Report)).one(),
            "conversations": session.exec(select(func.count()).select_from(Conversation)).one(),
        }


@pytest.mark.parametrize("path", sorted(TRANSCRIPTS.glob("*.yaml")), ids=lambda path: path.stem)
def test_transcript(path: Path, inbox: Inbox) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    if document.get("lang") == "en":  # as `lapor chat --lang en`
        inbox.flows = dataclasses.replace(inbox.flows, default_locale="en")
    player = Player(inbox, path.stem)
    player.shown(player.session.resume())
    for entry in document["conversation"]:
        if "you" in entry:
            player.you(str(entry["you"]))
        elif "officer" in entry:
            player.officer(str(entry["officer"]))
        elif "chat" in entry:
            player.switch(str(entry["chat"]))
    counts = _counts(inbox)
    if UPDATE:
        document["conversation"] = player.log
        path.write_text(
            yaml.dump(document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100),
            encoding="utf-8",
        )
        return
    assert player.log == document["conversation"]
    for name, expected in (document.get("expect") or {}).items():
        assert counts[name] == expected, name
