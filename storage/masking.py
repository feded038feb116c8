"""Masking of identifying numbers in a story, for the copy officers read.

Phone numbers (every Indonesian form), NIKs (16 digits with a valid structure), e-mail addresses
and this product's receipt codes are replaced by a bracketed word; all other text stays as it was.
The patterns are linear (no nested quantifiers over the same characters), so any input is safe.
Measured on a synthetic corpus in tests/storage/test_masking_corpus.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from storage.receipts import parse_receipt

REPLACEMENTS = {
    "phone": "[nomor telepon]",
    "nik": "[NIK]",
    "email": "[email]",
    "receipt": "[kode tanda terima]",
}

NIK_LENGTH = 16
NIK_GROUPS = 5
SHORTEST_NUMBER = 9  # 0 + area code + the shortest subscriber number
# Groups of digits joined by one separator (a space, or a dot or dash with optional spaces
# around it) and parentheses, not glued to other digits or letters.
_NUMBER_RUN = re.compile(
    r"(?<![\w+])(?:\+ ?)?\(?\d+(?:\)?(?: ?[.\-] ?| )?\(?\d+)*\)?(?![\w])", re.ASCII
)
_DIGITS = re.compile(r"\d+", re.ASCII)
_EMAIL = re.compile(
    r"[A-Za-z0-9._%+\-]{1,64}(?:\s?(?:@|\[at\]|\(at\))\s?|\s+at\s+)"
    r"[A-Za-z0-9\-]{1,63}(?:(?:\.|\s?(?:\[dot\]|\(dot\))\s?|\s+dot\s+)[A-Za-z0-9\-]{1,63}){1,4}",
    re.IGNORECASE,
)
# A receipt as shown (XXXX-XXXX-XXXX-X, dashes, dots or spaces) or as one 13-character token.
_RECEIPT = re.compile(
    r"(?<![A-Za-z0-9])"
    r"(?:[A-Za-z0-9]{4}(?:[ .\-][A-Za-z0-9]{4}){2}[ .\-][A-Za-z0-9]|[A-Za-z0-9]{13})"
    r"(?![A-Za-z0-9])"
)
_WA_LINK = re.compile(r"wa\.me/\+?\d{8,15}", re.IGNORECASE)

# Kemendagri codes (flows/data/regions.csv): per province the highest regency number (01…) and
# the highest city number (71…, 0 for none). Papua (91) and Papua Barat (92) keep the ranges
# they had before the 2022 split, because an NIK keeps the code of the place that issued it.
_REGENCIES = {
    **{11: (18, 75), 12: (25, 78), 13: (12, 77), 14: (10, 72), 15: (9, 72), 16: (13, 74)},
    **{17: (9, 71), 18: (13, 72), 19: (6, 71), 21: (5, 72), 31: (1, 75), 32: (18, 79)},
    **{33: (29, 76), 34: (4, 71), 35: (29, 79), 36: (4, 74), 51: (8, 71), 52: (8, 72)},
    **{53: (21, 71), 61: (12, 72), 62: (13, 71), 63: (11, 72), 64: (11, 74), 65: (4, 71)},
    **{71: (11, 74), 72: (12, 71), 73: (26, 73), 74: (15, 72), 75: (5, 71), 76: (6, 0)},
    **{81: (9, 72), 82: (8, 72), 91: (29, 71), 92: (13, 71), 93: (4, 0), 94: (8, 0)},
    **{95: (8, 0), 96: (5, 71)},
}
_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    start: int
    end: int


def is_nik(digits: str) -> bool:
    """16 digits whose fields are plausible: a regency that exists, a district, a birth date
    (the day plus 40 for women) and a serial."""
    if len(digits) != NIK_LENGTH or not digits.isdigit():
        return False
    regencies, cities = _REGENCIES.get(int(digits[0:2]), (0, 0))
    regency, district = int(digits[2:4]), int(digits[4:6])
    day, month, serial = int(digits[6:8]), int(digits[8:10]), int(digits[12:16])
    day -= 40 if day > 40 else 0
    return (
        (1 <= regency <= regencies or 71 <= regency <= cities)
        and district > 0
        and 1 <= month <= 12
        and 1 <= day <= _DAYS_IN_MONTH[month - 1]
        and serial > 0
    )


def is_phone(written: str) -> bool:
    """An Indonesian number as written: +62, 62 or 0, then a mobile number (8…) or an area code
    and subscriber."""
    return _is_phone(_DIGITS.findall(written), plus=written.lstrip().startswith("+"))


def _is_phone(groups: list[str], *, plus: bool) -> bool:
    # The national number's first group is a mobile prefix or an area code, never a lone digit:
    # that is how dates and times starting with 0 are written (05-11-2024 19.30).
    digits = "".join(groups)
    if groups and groups[0].startswith("62") and (plus or len(digits) >= 11):
        start = 3 if digits[2:3] == "0" else 2  # +62 (0)812…: the trunk 0 written anyway
    elif digits.startswith("0"):
        start = 1
    else:
        return False
    national = digits[start:]
    lead, end = len(national), 0
    for group in groups:
        end += len(group)
        if end > start:
            lead = min(lead, end - start)
            break
    if national.startswith("8"):
        return 9 <= len(national) <= 12 and lead >= 2
    return (
        national[:1] in ("2", "3", "4", "5", "6", "7", "9")
        and 8 <= len(national) <= 10
        and (lead == len(national) or 2 <= lead <= 3)
    )


def _classify(groups: list[str], *, plus: bool) -> str | None:
    # An NIK is written whole or in up to five groups (31.74.09.651288.0002), while a date and
    # a time range can add up to 16 digits in seven (16.12.2016 10.05 - 11.05).
    if len(groups) <= NIK_GROUPS and is_nik("".join(groups)):
        return "nik"
    return "phone" if _is_phone(groups, plus=plus) else None


def _numbers(text: str, run: re.Match[str]) -> Iterator[Finding]:
    """Phones and NIKs in one run of digit groups. A run may join an identifier to a number
    written next to it ("NIK 3175… 21 tahun", "tanggal 5 0812…"), so the longest identifier at
    each group is taken; a 16-digit card or account number in four groups is taken whole or not
    at all, so that no phone is found inside it."""
    spans = [(m.start(), m.end()) for m in _DIGITS.finditer(text, run.start(), run.end())]
    groups = [text[start:end] for start, end in spans]
    last = len(groups) - 1
    counts = [0]
    for group in groups:
        counts.append(counts[-1] + len(group))
    card = len(groups) == 4 and all(len(group) == 4 for group in groups)
    plus = run.group().startswith("+")
    first = 0
    while first <= last:
        found: dict[int, tuple[str, int, int]] = {}
        for final in range(first, last + 1):
            size = counts[final + 1] - counts[first]
            if size > NIK_LENGTH:
                break
            if size < SHORTEST_NUMBER or (card and (first, final) != (0, last)):
                continue
            kind = _classify(groups[first : final + 1], plus=plus and first == 0)
            if kind is not None:
                start = run.start() if first == 0 else spans[first][0]
                end = run.end() if final == last else spans[final][1]
                found[final] = (kind, start, end)
        if not found:
            first += 1
            continue
        # After a "+", a phone and a number after it can add up to an NIK's 16 digits ("+62
        # (0)833-241-20643 39"): what was written there is the phone. (Without the "+", an NIK
        # of Kalimantan Tengah, 62…, can hold a phone-like start: there the NIK wins.)
        phones = [final for final, (kind, _, _) in found.items() if kind == "phone"]
        final = max(phones if plus and first == 0 and phones else found)
        previous = found.get(final - 1)
        # "0812345678 22 kali": a short group after a space is a number of its own.
        if (
            previous is not None
            and previous[0] == found[final][0] == "phone"
            and len(groups[final]) <= 2
            and text[spans[final - 1][1] : spans[final][0]] == " "
        ):
            final -= 1
        kind, start, end = found[final]
        yield Finding(kind, start, end)
        first = final + 1


def find_pii(text: str) -> list[Finding]:
    """Identifying spans, sorted and non-overlapping (earlier and longer spans win)."""
    candidates: list[Finding] = []
    candidates += [Finding("email", m.start(), m.end()) for m in _EMAIL.finditer(text)]
    candidates += [Finding("phone", m.start(), m.end()) for m in _WA_LINK.finditer(text)]
    for run in _NUMBER_RUN.finditer(text):
        candidates += _numbers(text, run)
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
