"""Words that work in every step, phrases that signal danger, and the emergency contacts.

All matching is on a normalised form (lower case, no leading ``/``, no ``@botname`` suffix, no
trailing punctuation, single spaces) so that ``/Help@LaporAmanBot``, ``HELP!`` and ``help`` agree.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

MAX_NORMALISED = 2_000  # danger phrases are short; a 5,000-character message is scanned in full
_SPACES = re.compile(r"\s+")
_EDGE_PUNCTUATION = re.compile(r"^[\s/.!?,;:'\"()\[\]-]+|[\s.!?,;:'\"()\[\]-]+$")
_BOT_SUFFIX = re.compile(r"^(/\w+)@\w+$")


class Command(StrEnum):
    help = "help"
    emergency = "emergency"
    exit = "exit"
    back = "back"
    restart = "restart"
    language = "language"
    status = "status"
    start = "start"


COMMAND_WORDS: dict[str, Command] = {
    "bantuan": Command.help,
    "help": Command.help,
    "tolong bantuan": Command.help,
    "darurat": Command.emergency,
    "emergency": Command.emergency,
    "sos": Command.emergency,
    "hapus": Command.exit,
    "keluar": Command.exit,
    "exit": Command.exit,
    "kembali": Command.back,
    "back": Command.back,
    "ulang": Command.restart,
    "restart": Command.restart,
    "bahasa": Command.language,
    "language": Command.language,
    "status": Command.status,
}


def normalise(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", folded).strip()


def label_form(text: str) -> str:
    """How typed text and button labels are compared: case, spacing and edge marks ignored."""
    return normalise(text).strip(" .!?,;:'\"✓").replace("_", " ")


def command_of(text: str) -> Command | None:
    """The global word a message is, if it is one (and nothing else)."""
    if len(text) > 40:
        return None
    stripped = text.strip()
    suffixed = _BOT_SUFFIX.match(stripped)
    if suffixed:
        stripped = suffixed.group(1)
    if normalise(stripped) == "/start":
        return Command.start
    word = _EDGE_PUNCTUATION.sub("", normalise(stripped))
    return COMMAND_WORDS.get(word)


# Said in a message anywhere in the conversation, these mean "in danger now" or "at risk of
# self-harm": the bot answers at once with emergency contacts and the report becomes critical.
DANGER_PHRASES = (
    # Indonesian, with the everyday forms (aku/saya/gue, ingin/mau/pengen)
    "bunuh diri",
    "ingin mati",
    "mau mati",
    "pengen mati",
    "pingin mati",
    "ingin mengakhiri hidup",
    "mengakhiri hidup",
    "akhiri hidupku",
    "tidak mau hidup lagi",
    "gak mau hidup lagi",
    "nggak mau hidup lagi",
    "dia ada di sini",
    "dia di sini",
    "dia datang lagi",
    "dia sedang di rumah",
    "tolong aku",
    "tolong saya",
    "tolongin aku",
    "tolongin saya",
    "mau dibunuh",
    "akan dibunuh",
    "mau membunuh",
    "ancam bunuh",
    "diancam dibunuh",
    "mengancam akan membunuh",
    "sedang dipukuli",
    "lagi dipukuli",
    "aku tidak aman",
    "saya tidak aman",
    "dikurung",
    "disekap",
    # English
    "kill myself",
    "killing myself",
    "suicide",
    "end my life",
    "want to die",
    "he is here",
    "she is here",
    "he's here",
    "she's here",
    "they are here",
    "help me",
    "going to kill",
    "threatened to kill",
    "will kill me",
    "not safe now",
    "i am not safe",
    "i'm not safe",
    "locked in",
)
_DANGER = re.compile(
    r"(?<![\w])(?:" + "|".join(re.escape(phrase) for phrase in DANGER_PHRASES) + r")(?![\w])"
)


def has_danger_phrase(text: str) -> bool:
    normalised = normalise(text).replace("\u2019", "'")  # a typographic apostrophe
    return _DANGER.search(normalised) is not None


@dataclass(frozen=True, slots=True)
class Contact:
    number: str
    name: dict[str, str]
    note: dict[str, str]


DEFAULT_CONTACTS = Path(__file__).with_name("data") / "emergency.yaml"


class ContactsError(Exception):
    """The emergency contacts file is unusable (the message names the file and the problem)."""


def load_contacts(path: Path | None = None) -> list[Contact]:
    """The deployment's emergency contacts: ``path`` overrides the shipped national list."""
    source = path or DEFAULT_CONTACTS
    try:
        loaded = yaml.safe_load(source.read_text(encoding="utf-8"))
        contacts = [
            Contact(
                number=str(item["number"]),
                name={str(k): str(v) for k, v in item["name"].items()},
                note={str(k): str(v) for k, v in (item.get("note") or {}).items()},
            )
            for item in loaded["contacts"]
        ]
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as error:
        raise ContactsError(f"{source}: not a usable emergency contacts file ({error})") from None
    if not contacts:
        raise ContactsError(f"{source}: lists no emergency contacts")
    return contacts


def format_contacts(contacts: list[Contact], locale: str) -> str:
    lines = []
    for contact in contacts:
        name = contact.name.get(locale) or next(iter(contact.name.values()))
        note = contact.note.get(locale, "")
        lines.append(f"• {contact.number} — {name}" + (f" ({note})" if note else ""))
    return "\n".join(lines)
