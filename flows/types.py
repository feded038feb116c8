"""The engine's vocabulary: what comes in, what goes out, and what must be done about it.

Channel-neutral and free of I/O; ``bot/`` turns platform traffic into :class:`UserInput` and
renders :class:`Reply` for each platform.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class InputKind(StrEnum):
    text = "text"
    choice = "choice"
    media = "media"
    unsupported = "unsupported"
    event = "event"


@dataclass(frozen=True, slots=True)
class UserInput:
    """One thing the reporter did: typed text, pressed a button, sent a file, or something else.

    ``event`` inputs come from the inbox, not the reporter: the result of an effect the engine
    asked for (a receipt look-up), fed back so the engine itself stays free of I/O.
    """

    kind: InputKind
    text: str = ""
    choice: str = ""
    media_kind: str = ""
    event: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def typed(cls, text: str) -> UserInput:
        return cls(InputKind.text, text=text)

    @classmethod
    def pressed(cls, choice: str) -> UserInput:
        return cls(InputKind.choice, choice=choice)


@dataclass(frozen=True, slots=True)
class Choice:
    """A button: ``id`` is ``STEP:OPTION``; ``label`` is a text key, or literal text if ``raw``."""

    id: str
    label: str
    raw: bool = False


@dataclass(frozen=True, slots=True)
class Reply:
    """A message to the reporter: a text key with parameters, and the buttons under it."""

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    choices: tuple[Choice, ...] = ()


class EffectKind(StrEnum):
    submit_report = "submit_report"
    forget_draft = "forget_draft"
    clear_chat = "clear_chat"
    store_evidence = "store_evidence"
    lookup_receipt = "lookup_receipt"
    reply_to_officers = "reply_to_officers"


@dataclass(frozen=True, slots=True)
class Effect:
    kind: EffectKind
    data: dict[str, Any] = field(default_factory=dict)


class Voice(StrEnum):
    """Whom the questions are about, which decides their wording: someone else, the reporter
    themself (``key@self``), or a child telling about themself (``key@child``, else ``@self``)."""

    other = "other"
    self = "self"
    child = "child"


@dataclass(frozen=True, slots=True)
class StepResult:
    """The new snapshot (``None``: nothing of this conversation is to be kept), what to say (in
    ``locale``, worded for ``voice``), and what to do."""

    snapshot: dict[str, Any] | None
    replies: list[Reply]
    effects: list[Effect]
    locale: str
    voice: Voice
