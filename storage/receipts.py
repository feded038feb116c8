"""Receipt codes: what a reporter keeps to follow up on a report from any phone.

65 random bits written in Crockford base32 (no I, L, O or U) as ``XXXX-XXXX-XXXX-X``. Typed input is
forgiving: any case, spaces or dots instead of dashes, O for 0, I or L for 1. A code must never look
like a phone number or an NIK, so codes with fewer than three letters or a run of five digits are
drawn again; so are codes without a digit, which keeps ordinary words from ever reading as a receipt
(together that discards about 4 % of draws and keeps more than 64 bits of entropy).
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
LENGTH = 13
BITS = LENGTH * 5
GROUP = 4
_MIN_LETTERS = 3
_DIGIT_RUN = re.compile(r"\d{5}")
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
_SEPARATORS = re.compile(r"[\s\-_.·/]+")
_VALID = frozenset(ALPHABET)


def _encode(number: int) -> str:
    symbols = []
    for _ in range(LENGTH):
        symbols.append(ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(symbols))


def _acceptable(code: str) -> bool:
    letters = sum(1 for symbol in code if symbol.isalpha())
    has_digit = letters < len(code)
    return letters >= _MIN_LETTERS and has_digit and _DIGIT_RUN.search(code) is None


def generate_receipt() -> str:
    """A fresh canonical receipt (13 symbols, no separators)."""
    while True:
        code = _encode(secrets.randbits(BITS))
        if _acceptable(code):
            return code


def format_receipt(canonical: str) -> str:
    """``K7QM3XHP9TRAW`` -> ``K7QM-3XHP-9TRA-W``."""
    return "-".join(canonical[i : i + GROUP] for i in range(0, len(canonical), GROUP))


def parse_receipt(text: str) -> str | None:
    """The canonical receipt a person meant by ``text``, or ``None`` if it cannot be one."""
    candidate = _SEPARATORS.sub("", text.strip()).upper().translate(_CONFUSABLE)
    if len(candidate) != LENGTH or not set(candidate) <= _VALID or not _acceptable(candidate):
        return None
    return candidate
