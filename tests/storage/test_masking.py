from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.masking import find_pii, is_nik, mask_pii
from storage.receipts import format_receipt, generate_receipt


@pytest.mark.parametrize(
    "phone",
    [
        "+62 812-3456-7890",
        "+62812 3456 7890",
        "62 812 3456 7890",
        "6281234567890",
        "081234567890",
        "0812.3456.7890",
        "0812-3456-789",
        "(0721) 123456",
        "021 5551234",
        "wa.me/6281234567890",
    ],
)
def test_phone_numbers_in_every_form_are_masked(phone: str) -> None:
    assert mask_pii(f"hubungi {phone} ya") == "hubungi [nomor telepon] ya"


@pytest.mark.parametrize("nik", ["1871014501900001", "1871 0145 0190 0001", "3174.096512.880002"])
def test_niks_are_masked(nik: str) -> None:
    assert mask_pii(f"NIK {nik}.") == "NIK [NIK]."


def test_emails_and_receipts_are_masked() -> None:
    receipt = format_receipt(generate_receipt())
    text = f"email siti.r@example.co.id, kode {receipt} dan {receipt.replace('-', '')}"
    assert mask_pii(text) == "email [email], kode [kode tanda terima] dan [kode tanda terima]"
    assert mask_pii("tulis ke siti [at] gmail [dot] com") == "tulis ke [email]"


@pytest.mark.parametrize(
    "text",
    [
        "tanggal 12/03/2024 jam 21.30",
        "Rp 1.500.000 atau Rp1.500.000,00",
        "umur 12 tahun, RT 03/RW 05, rumah no. 17",
        "kartu 4111 1111 1111 1111",
        "0000000000000000",
        "dia memaksa saya pergi ke sekolah",
        "tahun 2024 dan 2025",
    ],
)
def test_ordinary_numbers_and_words_are_left_alone(text: str) -> None:
    assert mask_pii(text) == text


def test_a_16_digit_number_must_have_the_nik_structure() -> None:
    assert is_nik("1871014501900001")
    assert is_nik("1871015501900001")  # a woman's NIK: day + 40
    assert not is_nik("9971014501900001")  # no province 99
    assert not is_nik("1871013201900001")  # day 32
    assert not is_nik("1871014513900001")  # month 13
    assert not is_nik("1871014501900000")  # serial 0000


@st.composite
def niks(draw: st.DrawFn) -> str:
    province = draw(st.sampled_from([11, 18, 31, 33, 35, 51, 53, 64, 73, 91, 96]))
    regency = draw(st.integers(1, 99))
    district = draw(st.integers(1, 99))
    day = draw(st.integers(1, 31)) + draw(st.sampled_from([0, 40]))
    month = draw(st.integers(1, 12))
    year = draw(st.integers(0, 99))
    serial = draw(st.integers(1, 9999))
    return f"{province:02}{regency:02}{district:02}{day:02}{month:02}{year:02}{serial:04}"


@st.composite
def mobiles(draw: st.DrawFn) -> str:
    rest = draw(st.text("0123456789", min_size=8, max_size=10))
    prefix = draw(st.sampled_from(["08", "+628", "628", "+62 8"]))
    return prefix + rest


words = st.lists(st.sampled_from(["saya", "dia", "di", "rumah", "tolong", "😢", "ya"]), max_size=4)


@given(words, st.one_of(niks(), mobiles()), words)
def test_generated_identifiers_never_survive(before: list[str], pii: str, after: list[str]) -> None:
    text = " ".join([*before, pii, *after])
    masked = mask_pii(text)
    digits = "".join(ch for ch in pii if ch.isdigit())
    assert digits not in "".join(ch for ch in masked if ch.isdigit())


@given(st.text(max_size=400))
def test_masking_never_raises_and_is_idempotent(text: str) -> None:
    once = mask_pii(text)
    assert mask_pii(once) == once
    for found in find_pii(text):
        assert 0 <= found.start < found.end <= len(text)


def test_adversarial_input_is_fast() -> None:
    text = "0 " * 50_000 + "1-" * 20_000 + "a" * 10_000
    started = time.perf_counter()
    mask_pii(text)
    assert time.perf_counter() - started < 2  # a guard against exponential backtracking
