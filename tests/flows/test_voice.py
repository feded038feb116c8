"""Every question is worded for whom it is about: the reporter themself ("you"), a child telling
about themself (the child's words), or someone else ("they")."""

from __future__ import annotations

import re

import pytest

from flows.machine import Flows
from flows.texts import LOCALES
from flows.types import Voice

# Words that speak of the person it happened to as someone else.
THIRD_PERSON = {
    "id": re.compile(r"\bkorban\b|orang yang mengalami|kelaminnya\b", re.IGNORECASE),
    "en": re.compile(r"\bvictim\b|\bare they\b|\bis their\b|\bis needed\b", re.IGNORECASE),
}
# After "myself": the age question, the first one whose wording depends on whom it is about.
ABOUT_THE_REPORTER = {"id": "usiamu", "en": "How old are you"}


def _prompts(flows: Flows) -> list[str]:
    steps = flows.specs["report"].steps
    return [step.prompt or name for name, step in steps.items()]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("voice", [Voice.self, Voice.child])
def test_no_question_speaks_of_the_reporter_as_someone_else(
    flows: Flows, locale: str, voice: Voice
) -> None:
    for key in _prompts(flows):
        if not flows.catalogue.has(key, locale):
            continue
        text = flows.catalogue.text(key, locale, voice=voice)
        assert not THIRD_PERSON[locale].search(text), (key, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_the_age_question_asks_the_reporter_or_about_someone_else(
    flows: Flows, locale: str
) -> None:
    catalogue = flows.catalogue
    assert ABOUT_THE_REPORTER[locale] in catalogue.text("victim_age", locale, voice=Voice.self)
    assert ABOUT_THE_REPORTER[locale] not in catalogue.text("victim_age", locale)
    # A child without words of its own for a question gets the reporter's ("you"), not "they".
    assert catalogue.text("lives_with", locale, voice=Voice.child) != catalogue.text(
        "lives_with", locale
    )
