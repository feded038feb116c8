"""Masking of identifying numbers in a story, for the copy officers read.

Phone numbers (every Indonesian form), NIKs (16 digits with a valid structure), e-mail addresses
and this product's receipt codes are replaced by a bracketed word; all other text stays as it was.
The patterns are linear (no nested quantifiers over the same characters), so any input is safe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from storage.receipts import parse_receipt

REPLACEMENTS = {
    "phone": "[nomor telepon]",
    "nik": "[NIK]",
    "email": "[email]",
    "receipt": "[kode tanda terima]",
}

_SEP = r"[ .\-]?"
# A run of digits with single separators between them, not glued to other digits or letters.
_NUMBER_RUN = re.compile(r"(?<![\w+])(?:\+\s?)?\(?\d(?:\)?[ .\-]?\(?\d)*\)?(?![\w])")
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}\s?(?:@|\[at\]|\(at\)|\s at\s)\s?"
    r"[A-Za-z0-9\-]{1,63}(?:\s?(?:\.|\[dot\]|\(dot\)|\s dot\s)\s?[A-Za-z0-9\-]{1,63}){1,4}",
    re.IGNORECASE,
)
# A receipt as shown (XXXX-XXXX-XXXX-X, dashes or spaces) or as one 13-character token.
_RECEIPT = re.compile(
    r"(?<![A-Za-z0-9])(?:[A-Za-z0-9]{4}(?:[ \-][A-Za-z0-9]{4}){2}[ \-][A-Za-z0-9]|[A-Za-z0-9]{13})"
    r"(?![A-Za-z0-9])"
)
_WA_LINK = re.compile(r"wa\.me/\+?\d{8,15}", re.IGNORECASE)

_PROVINCES = frozenset(
    {11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 31, 32, 33, 34, 35, 36, 51, 52, 53}
    | {61, 62, 63, 64, 65, 71, 72, 73, 74, 75, 76, 81, 82, 91, 92, 93, 94, 95, 96}
)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


def is_nik(digits: str) -> bool:
    """16 digits whose fields are plausible: province, regency, district, birth date, serial."""
    if len(digits) != 16 or not digits.isdigit():
        return False
    province, regency, district = int(digits[0:2]), int(digits[2:4]), int(digits[4:6])
    day, month, serial = int(digits[6:8]), int(digits[8:10]), int(digits[12:16])
    day_ok = 1 <= day <= 31 or 41 <= day <= 71
    return (
        province in _PROVINCES
        and regency > 0
        and district > 0
        and day_ok
        and 1 <= month <= 12
        and serial > 0
    )


def is_phone(digits: str, *, international: bool) -> bool:
    """Indonesian numbers: +62/62/0, then a mobile (8…) or a landline area code and subscriber."""
    if digits.startswith("62") and (international or len(digits) >= 11):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return False
    if national.startswith("8"):
        return 9 <= len(national) <= 12
    return national[:1] in "234567" and 8 <= len(national) <= 11


def _classify_number(text: str) -> str | None:
    digits = re.sub(r"\D", "", text)
    if is_nik(digits):
        return "nik"
    if is_phone(digits, international=text.lstrip().startswith("+")):
        return "phone"
    return None


def find_pii(text: str) -> list[Finding]:
    """Identifying spans, sorted and non-overlapping (earlier and longer spans win)."""
    candidates: list[Finding] = []
    candidates += [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    candidates += [Finding("phone", m.start(), m.end()) for m in _WA_LINK.finditer(text)]
    for match in _NUMBER_RUN.finditer(text):
        kind = _classify_number(match.group())
        if kind is not None:
            candidates.append(Finding(kind, match.start(), match.end()))
    for match in _RECEIPT.finditer(text):
        if parse_receipt(match.group()) is not None:
            candidates.append(Finding("receipt", match.start(), match.end()))
    candidates.sort(key=lambda found: (found.start, -(found.end - found.start)))
    chosen: list[Finding] = []
    for found in candidates:
        if chosen and found.start < chosen[-1].end:
            continue
        chosen.append(found)
    return chosen


def mask_pii(text: str) -> str:
    parts: list[str] = []
    position = 0
    for found in find_pii(text):
        parts.append(text[position : found.start])
        parts.append(REPLACEMENTS[found.kind])
        position = found.end
    parts.append(text[position:])
    return "".join(parts)
