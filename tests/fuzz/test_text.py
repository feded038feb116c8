"""Fuzzing what reads reporters' words: the PII masker, the receipt parser, the region lookup.

``make fuzz`` runs every test here with at least 100,000 inputs (the ``fuzz`` hypothesis profile,
tests/conftest.py); ``make test`` runs the default depth.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.regions import Regions
from storage.masking import find_pii, mask_pii
from storage.receipts import ALPHABET, LENGTH, format_receipt, parse_receipt
from tests.storage.test_masking import mobiles, niks

pytestmark = pytest.mark.fuzz

REGIONS = Regions.load()
PROVINCE_CODES = [province.code for province in REGIONS.provinces()]

# Text made of what trips masks up: digits, separators, parentheses, @ and dots, letters.
number_soup = st.text(alphabet="0123456789 .-+()@/:62 aAkK\n", max_size=120)
stories = st.one_of(st.text(max_size=300), number_soup)
separation = st.sampled_from([" ", ", ", ". ", "\n", " (", ") ", ": "])


@settings(deadline=None)
@given(stories)
def test_masking_is_idempotent_and_its_findings_are_in_order(text: str) -> None:
    findings = find_pii(text)
    for found in findings:
        assert 0 <= found.start < found.end <= len(text)
    for before, after in itertools.pairwise(findings):
        assert before.end <= after.start
    once = mask_pii(text)
    assert mask_pii(once) == once


@settings(deadline=None)
@given(stories, st.one_of(niks(), mobiles()), separation, separation, stories)
def test_an_identifier_set_apart_never_survives_masking(
    before: str, identifier: str, left: str, right: str, after: str
) -> None:
    masked = mask_pii(before + left + identifier + right + after)
    digits = "".join(ch for ch in identifier if ch.isdigit())
    # Its digits are gone from where it stood (they may occur in the rest of the text by chance).
    leftover = "".join(ch for ch in masked if ch.isdigit())
    context = "".join(ch for ch in before + after if ch.isdigit())
    assert digits not in leftover or digits in context


@settings(deadline=None)
@given(st.text(max_size=60) | st.text(alphabet=ALPHABET + "oOiIlL- ._/", max_size=30))
def test_any_text_parses_to_a_canonical_receipt_or_none(text: str) -> None:
    canonical = parse_receipt(text)
    if canonical is None:
        return
    assert len(canonical) == LENGTH
    assert set(canonical) <= set(ALPHABET)
    assert parse_receipt(canonical) == canonical
    assert parse_receipt(format_receipt(canonical).lower()) == canonical


@settings(deadline=None)
@given(st.text(max_size=150), st.sampled_from(PROVINCE_CODES), st.integers(1, 10))
def test_region_lookup_answers_any_text_within_its_limits(
    text: str, province: str, limit: int
) -> None:
    provinces = REGIONS.find_province(text, limit)
    assert len(provinces) <= limit
    assert all(region.kind == "province" for region in provinces)
    regencies = REGIONS.find_regency(province, text, limit)
    assert len(regencies) <= limit
    assert all(region.province_code == province for region in regencies)
    assert len({region.code for region in regencies}) == len(regencies)
