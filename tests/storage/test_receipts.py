from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from storage.receipts import ALPHABET, LENGTH, format_receipt, generate_receipt, parse_receipt

# Indonesian phone numbers in the forms people write them: +62 / 62 / 0, then 8 and 7-11 digits.
PHONE = re.compile(r"(?:\+?62|0)[\s.\-]?8(?:[\s.\-]?\d){7,11}")
# An NIK is 16 digits; so is anything that could be mistaken for one.
NIK = re.compile(r"\d{16}")
ANY_LONG_NUMBER = re.compile(r"\d{5,}")


def test_hundred_thousand_receipts_are_unique_and_never_look_like_a_phone_or_nik() -> None:
    receipts = [generate_receipt() for _ in range(100_000)]
    assert len(set(receipts)) == len(receipts)
    for receipt in receipts:
        assert len(receipt) == LENGTH
        assert set(receipt) <= set(ALPHABET)
        for shown in (receipt, format_receipt(receipt)):
            assert not PHONE.search(shown), shown
            assert not NIK.search(shown), shown
            assert not ANY_LONG_NUMBER.search(shown), shown


def test_receipts_use_the_whole_alphabet_in_every_position() -> None:
    receipts = [generate_receipt() for _ in range(5_000)]
    for position in range(LENGTH):
        assert len({receipt[position] for receipt in receipts}) == len(ALPHABET)


def test_format_groups_by_four() -> None:
    assert format_receipt("K7QM3XHP9TRAW") == "K7QM-3XHP-9TRA-W"


# Codes of the issued shape (parse_receipt accepts exactly those); sloppy variants must map back.
receipt_strategy = st.text(alphabet=ALPHABET, min_size=LENGTH, max_size=LENGTH).filter(
    lambda code: parse_receipt(code) == code
)


@st.composite
def sloppy(draw: st.DrawFn) -> tuple[str, str]:
    """A receipt as a hurried person might type it."""
    receipt = draw(receipt_strategy)
    typed = []
    for symbol in format_receipt(receipt):
        if symbol == "-":
            typed.append(draw(st.sampled_from(["-", " ", "", ".", "  ", " - "])))
            continue
        variant = symbol
        if symbol == "0":
            variant = draw(st.sampled_from(["0", "O", "o"]))
        elif symbol == "1":
            variant = draw(st.sampled_from(["1", "I", "i", "L", "l"]))
        typed.append(variant.lower() if draw(st.booleans()) else variant)
    padding = draw(st.sampled_from(["", " ", "\n", "\t "]))
    return receipt, padding + "".join(typed) + padding


@given(sloppy())
def test_a_sloppily_typed_receipt_parses_to_the_same_code(case: tuple[str, str]) -> None:
    receipt, typed = case
    assert parse_receipt(typed) == receipt


def test_examples_of_sloppy_typing() -> None:
    assert parse_receipt("k7qm 3xhp 9tra w") == "K7QM3XHP9TRAW"
    assert parse_receipt("1L0O-ABCD-EFGH-J") == "1100ABCDEFGHJ"


@given(st.text(max_size=40))
def test_parse_never_raises_and_only_returns_canonical_codes(text: str) -> None:
    parsed = parse_receipt(text)
    if parsed is not None:
        assert len(parsed) == LENGTH
        assert set(parsed) <= set(ALPHABET)


def test_wrong_lengths_and_letters_are_refused() -> None:
    for text in ("", "K7QM-3XHP-9TRA", "K7QM-3XHP-9TRA-WW", "K7QM-3XHP-9TRA-U", "081234567890"):
        assert parse_receipt(text) is None


def test_codes_that_are_never_issued_are_not_receipts() -> None:
    # A 13-digit phone number or a code with fewer than three letters is never a receipt.
    assert parse_receipt("0812345678901") is None
    assert parse_receipt("+62 812 3456 7890") is None
    assert parse_receipt("AB12345678901") is None
