"""Indonesia's provinces and regencies/cities (Kemendagri codes) and a forgiving name lookup.

People type "lampung", "kab mesuji", "Kota Semarang", "jogja", "Jateng" or "semarnag": the lookup
ignores case, punctuation and the words "provinsi/kabupaten/kota", knows the common abbreviations,
tolerates small typos (difflib's ratio), and offers several choices when a name is ambiguous
("bogor" is both Kabupaten and Kota Bogor).
"""

from __future__ import annotations

import csv
import difflib
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources

MAX_QUERY = 100
CLEAR_MATCH = 0.86  # a typo this close to one name (and clearly closer than the next) is that name
LOOSE_MATCH = 0.72  # names this close are offered as choices
PROVINCE_WORDS = ("provinsi", "propinsi", "prov")
CITY_WORDS = ("kota", "kotamadya", "kodya", "city")
REGENCY_WORDS = ("kabupaten", "kab", "regency")

PROVINCE_ALIASES = {
    "nad": "11",
    "aceh": "11",
    "sumut": "12",
    "north sumatra": "12",
    "sumbar": "13",
    "west sumatra": "13",
    "jambi": "15",
    "sumsel": "16",
    "south sumatra": "16",
    "babel": "19",
    "bangka belitung": "19",
    "kepri": "21",
    "riau islands": "21",
    "dki": "31",
    "jakarta": "31",
    "jabar": "32",
    "west java": "32",
    "jateng": "33",
    "central java": "33",
    "diy": "34",
    "jogja": "34",
    "jogjakarta": "34",
    "yogya": "34",
    "yogyakarta": "34",
    "jogya": "34",
    "jatim": "35",
    "east java": "35",
    "ntb": "52",
    "ntt": "53",
    "kalbar": "61",
    "west kalimantan": "61",
    "kalteng": "62",
    "central kalimantan": "62",
    "kalsel": "63",
    "south kalimantan": "63",
    "kaltim": "64",
    "east kalimantan": "64",
    "kaltara": "65",
    "north kalimantan": "65",
    "sulut": "71",
    "north sulawesi": "71",
    "sulteng": "72",
    "central sulawesi": "72",
    "sulsel": "73",
    "south sulawesi": "73",
    "sultra": "74",
    "southeast sulawesi": "74",
    "sulbar": "76",
    "west sulawesi": "76",
    "malut": "82",
    "north maluku": "82",
    "pabar": "92",
    "west papua": "92",
    "south papua": "93",
    "central papua": "94",
    "highland papua": "95",
    "southwest papua": "96",
}
REGENCY_ALIASES = {
    "solo": "33.72",
    "jogja": "34.71",
    "yogya": "34.71",
    "toba samosir": "12.12",
    "toba": "12.12",
}

_NOT_WORD = re.compile(r"[^\w]+")


@dataclass(frozen=True, slots=True)
class Region:
    code: str
    name: str
    kind: str  # province, regency or city

    @property
    def province_code(self) -> str:
        return self.code.split(".", 1)[0]


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text[: MAX_QUERY * 2]).casefold()
    return " ".join(_NOT_WORD.sub(" ", folded).split())[:MAX_QUERY]


def _strip_words(text: str, words: tuple[str, ...]) -> tuple[str, bool]:
    for word in words:
        if text.startswith(word + " "):
            return text[len(word) + 1 :], True
    return text, False


class Regions:
    def __init__(self, regions: list[Region]) -> None:
        self._by_code = {region.code: region for region in regions}
        self._provinces = [region for region in regions if region.kind == "province"]
        self._children: dict[str, list[Region]] = {}
        for region in regions:
            if region.kind != "province":
                self._children.setdefault(region.province_code, []).append(region)
        self._province_keys = {_fold(p.name): p.code for p in self._provinces}
        self._province_keys.update(PROVINCE_ALIASES)

    @classmethod
    def load(cls) -> Regions:
        source = resources.files("flows").joinpath("data/regions.csv")
        with source.open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return cls([Region(row["code"], row["name"], row["kind"]) for row in rows])

    def provinces(self) -> list[Region]:
        return list(self._provinces)

    def get(self, code: str) -> Region | None:
        return self._by_code.get(code)

    def regencies_of(self, province_code: str) -> list[Region]:
        return list(self._children.get(province_code, []))

    def find_province(self, text: str, limit: int = 5) -> list[Region]:
        query, _ = _strip_words(_fold(text), PROVINCE_WORDS)
        codes = self._match(query, self._province_keys)
        return [self._by_code[code] for code in codes][:limit]

    def find_regency(self, province_code: str, text: str, limit: int = 5) -> list[Region]:
        children = self._children.get(province_code, [])
        if not children:
            return []
        query = _fold(text)
        query, city = _strip_words(query, CITY_WORDS)
        query, regency = _strip_words(query, REGENCY_WORDS) if not city else (query, False)
        keys: dict[str, list[str]] = {}
        for child in children:
            bare = _fold(child.name.split(" ", 1)[1])
            keys.setdefault(bare, []).append(child.code)
        for alias, code in REGENCY_ALIASES.items():
            if code.startswith(province_code + "."):
                keys.setdefault(alias, []).append(code)
        wanted_kind = "city" if city else "regency" if regency else None
        found = [self._by_code[code] for code in self._match_many(query, keys)]
        if wanted_kind and any(region.kind == wanted_kind for region in found):
            found = [region for region in found if region.kind == wanted_kind]
        return found[:limit]

    @staticmethod
    def _match(query: str, keys: dict[str, str]) -> list[str]:
        return Regions._match_many(query, {key: [code] for key, code in keys.items()})

    @staticmethod
    def _match_many(query: str, keys: dict[str, list[str]]) -> list[str]:
        """Codes for ``query``: exact name, else names it starts, else close spellings."""
        if not query:
            return []
        if query in keys:
            return _unique(keys[query])
        if len(query) >= 3:
            starting = [
                code for key, codes in keys.items() if key.startswith(query) for code in codes
            ]
            if starting:
                return _unique(starting)
        scored = sorted(
            ((difflib.SequenceMatcher(None, query, key).ratio(), key) for key in keys),
            reverse=True,
        )
        if not scored or scored[0][0] < LOOSE_MATCH:
            return []
        best = scored[0][0]
        if best >= CLEAR_MATCH and (len(scored) == 1 or scored[1][0] < best - 0.05):
            return _unique(keys[scored[0][1]])
        close = [key for score, key in scored if score >= max(LOOSE_MATCH, best - 0.1)]
        return _unique([code for key in close for code in keys[key]])


def _unique(codes: list[str]) -> list[str]:
    return list(dict.fromkeys(codes))
