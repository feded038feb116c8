from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.regions import Regions
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
    assert not is_nik("1814014501900001")  # Lampung has no regency 14
    assert not is_nik("1871013201900001")  # day 32
    assert not is_nik("1871013102900001")  # 31 February
    assert not is_nik("1871014513900001")  # month 13
    assert not is_nik("1871014501900000")  # serial 0000


def test_every_regency_that_exists_is_accepted_in_an_nik() -> None:
    for code in REGENCY_CODES:
        assert is_nik(f"{code.replace('.', '')}011508900001"), code


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # Found by the corpus (tests/storage/test_masking_corpus.py): a number written next to
        # an identifier, and ordinary numbers that add up to an identifier's length.
        ("dari 0812 3456 7890 12 kali", "dari [nomor telepon] 12 kali"),
        ("dari 0812345678 22 kali", "dari [nomor telepon] 22 kali"),
        ("NIK 3175443005946291 9 tahun", "NIK [NIK] 9 tahun"),
        ("tanggal 5 081234567890", "tanggal 5 [nomor telepon]"),
        ("+62(0)833-241-20643 39 kali", "[nomor telepon] 39 kali"),
        ("+62 (0)812 3456 7890", "[nomor telepon]"),
        ("0812 - 3456 - 7890", "[nomor telepon]"),
        ("(0967) 521234", "[nomor telepon]"),
        ("budi at ymail dot com", "[email]"),
        ("siti@gmail.com. Tolong", "[email]. Tolong"),
        ("05-11-2024 19.30", "05-11-2024 19.30"),
        ("08.08.2017 10.30", "08.08.2017 10.30"),
        ("16.12.2016 10.05 - 11.05", "16.12.2016 10.05 - 11.05"),
        ("8-6-2020 11.15-12.00", "8-6-2020 11.15-12.00"),
        ("kartu 5210 0812 3456 7890", "kartu 5210 0812 3456 7890"),
        # Found by the fuzz tests: a stray plus made an NIK read as a (failed) phone.
        ("+ 1871014501900001", "[NIK]"),
        ("+ 6201010101000001", "[NIK]"),
        ("NIK 620914 411010 0945 21 tahun", "NIK [NIK] 21 tahun"),  # 6209144110 reads as a phone
    ],
)
def test_numbers_next_to_each_other_are_read_apart(text: str, masked: str) -> None:
    assert mask_pii(text) == masked


REGIONS = Regions.load()
REGENCY_CODES = [
    regency.code
    for province in REGIONS.provinces()
    for regency in REGIONS.regencies_of(province.code)
]


@st.composite
def niks(draw: st.DrawFn) -> str:
    regency = draw(st.sampled_from(REGENCY_CODES)).replace(".", "")
    district = draw(st.integers(1, 99))
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 28 if month == 2 else 30)) + draw(st.sampled_from([0, 40]))
    year = draw(st.integers(0, 99))
    serial = draw(st.integers(1, 9999))
    return f"{regency}{district:02}{day:02}{month:02}{year:02}{serial:04}"


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


def test_adversarial_input_takes_time_in_proportion_to_its_length() -> None:
    """A guard against catastrophic backtracking that does not depend on the machine's speed:
    four times the input may take about four times as long (best of three), never sixteen."""

    def best_time(scale: int) -> float:
        text = ("0 " * 5_000 + "1-" * 2_000 + "a" * 1_000) * scale
        times = []
        for _ in range(3):
            started = time.perf_counter()
            mask_pii(text)
            times.append(time.perf_counter() - started)
        return min(times)

    assert best_time(4) < 10 * best_time(1)
