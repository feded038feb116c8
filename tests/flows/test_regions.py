from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flows.regions import Regions

REGIONS = Regions.load()


def test_all_provinces_and_regencies_are_there() -> None:
    provinces = REGIONS.provinces()
    assert len(provinces) == 38
    regencies = [r for p in provinces for r in REGIONS.regencies_of(p.code)]
    assert len(regencies) == 514
    for regency in regencies:
        assert regency.code.startswith(regency.province_code + ".")
        assert REGIONS.get(regency.province_code) is not None
    for code in ("93", "94", "95", "96"):
        assert REGIONS.regencies_of(code), code


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("lampung", "Lampung"),
        ("Lampong", "Lampung"),
        ("PROVINSI LAMPUNG", "Lampung"),
        ("jogja", "DI Yogyakarta"),
        ("Jateng", "Jawa Tengah"),
        ("jawa tenga", "Jawa Tengah"),
        ("dki", "DKI Jakarta"),
        ("ntt", "Nusa Tenggara Timur"),
        ("papua selatan", "Papua Selatan"),
        ("central java", "Jawa Tengah"),
    ],
)
def test_provinces_are_found_forgivingly(typed: str, name: str) -> None:
    assert [region.name for region in REGIONS.find_province(typed)] == [name]


@pytest.mark.parametrize(
    ("province", "typed", "names"),
    [
        ("18", "kab mesuji", ["Kabupaten Mesuji"]),
        ("18", "Mesuji", ["Kabupaten Mesuji"]),
        ("33", "Kota Semarang", ["Kota Semarang"]),
        ("33", "semarnag", ["Kabupaten Semarang", "Kota Semarang"]),
        ("32", "bogor", ["Kabupaten Bogor", "Kota Bogor"]),
        ("32", "kabupaten bogor", ["Kabupaten Bogor"]),
        ("33", "solo", ["Kota Surakarta"]),
        ("93", "merauke", ["Kabupaten Merauke"]),
    ],
)
def test_regencies_are_found_within_their_province(
    province: str, typed: str, names: list[str]
) -> None:
    assert [region.name for region in REGIONS.find_regency(province, typed)] == names


def test_ambiguous_names_offer_choices_and_unknown_names_none() -> None:
    assert len(REGIONS.find_province("jawa")) == 3
    assert REGIONS.find_province("atlantis") == []
    assert REGIONS.find_regency("18", "bogor") == []


def test_every_region_is_found_by_its_own_name() -> None:
    for province in REGIONS.provinces():
        assert REGIONS.find_province(province.name)[0] == province
        for regency in REGIONS.regencies_of(province.code):
            assert REGIONS.find_regency(province.code, regency.name)[0] == regency


@given(st.text(max_size=300), st.integers(min_value=1, max_value=8))
def test_lookup_never_raises_and_respects_the_limit(text: str, limit: int) -> None:
    assert len(REGIONS.find_province(text, limit=limit)) <= limit
    assert len(REGIONS.find_regency("32", text, limit=limit)) <= limit
