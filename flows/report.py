"""What a finished conversation becomes: the report's fields and its priority. Pure functions."""

from __future__ import annotations

import re
from typing import Any

REPORT_FIELDS = (
    "reporter",
    "victim_age",
    "victim_gender",
    "category",
    "ongoing",
    "when",
    "province",
    "regency",
    "place",
    "perpetrator",
    "lives_with",
    "contact",
)
CLOSE_PERPETRATORS = frozenset({"family", "partner", "caregiver_teacher"})
NOT_AN_ANSWER = frozenset({"skip"})

_PHONE_NOISE = re.compile(r"[\s.\-()]")
_MOBILE = re.compile(r"^8\d{8,11}$")
_LANDLINE = re.compile(r"^[2-7]\d{7,10}$")


def report_fields(answers: dict[str, Any]) -> dict[str, Any]:
    """The structured answers as report columns: skipped and inapplicable ones are ``None``."""
    fields: dict[str, Any] = {}
    for name in REPORT_FIELDS:
        value = answers.get(name)
        fields[name] = None if value in NOT_AN_ANSWER else value
    if fields["perpetrator"] not in CLOSE_PERPETRATORS:
        fields["lives_with"] = None
    return fields


def priority_of(answers: dict[str, Any], *, danger: bool) -> str:
    """critical: danger now, a danger phrase, or a child with ongoing sexual violence;
    high: a child victim, ongoing violence, or a perpetrator living with the victim;
    normal otherwise."""
    child = answers.get("victim_age") == "child"
    ongoing = answers.get("ongoing") == "yes"
    if danger or (child and ongoing and answers.get("category") == "sexual"):
        return "critical"
    lives_with = (
        answers.get("lives_with") == "yes" and answers.get("perpetrator") in CLOSE_PERPETRATORS
    )
    if child or ongoing or lives_with:
        return "high"
    return "normal"


def parse_phone(text: str) -> str | None:
    """An Indonesian number as typed (+62 / 62 / 0 prefix, any spacing) in E.164, or ``None``."""
    digits = _PHONE_NOISE.sub("", text.strip())
    if digits.startswith("+62"):
        national = digits[3:]
    elif digits.startswith("62"):
        national = digits[2:]
    elif digits.startswith("0"):
        national = digits[1:]
    else:
        return None
    if _MOBILE.match(national) or _LANDLINE.match(national):
        return "+62" + national
    return None
