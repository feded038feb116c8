"""The PII masker measured on a synthetic corpus of Indonesian stories.

The corpus is generated here, seeded, so a change to the masker is measured against the same
stories every run. Identifiers are built from real structure (Kemendagri region codes, calendar
dates, operators' mobile prefixes, area codes); the ordinary numbers are what stories are full of
(dates, times, amounts, ages, house numbers, 16-digit numbers that are not NIKs). Each item's span
is known, so recall is "the item is covered by a finding of its kind" and a false positive is "a
finding touches an ordinary number". Run with ``-s`` to see the figures.
"""

from __future__ import annotations

import calendar
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from flows.regions import Regions
from storage.masking import find_pii
from storage.receipts import format_receipt, generate_receipt

STORIES = 3000
SEED = 20261130
RECALL_NEEDED = {"nik": 0.98, "phone": 0.98, "email": 0.99}
FALSE_POSITIVES_ALLOWED = 0.01

REGIONS = Regions.load()
REGENCY_CODES = [
    region.code.replace(".", "")
    for province in REGIONS.provinces()
    for region in REGIONS.regencies_of(province.code)
]
VALID_REGENCIES = frozenset(REGENCY_CODES)
MOBILE_PREFIXES = [
    *("811", "812", "813", "821", "822", "823", "851", "852", "853"),  # Telkomsel
    *("814", "815", "816", "855", "856", "857", "858"),  # Indosat
    *("817", "818", "819", "859", "877", "878", "831", "832", "833", "838"),  # XL, Axis
    *(
        "895",
        "896",
        "897",
        "898",
        "899",
        "881",
        "882",
        "883",
        "887",
        "888",
        "889",
    ),  # Tri, Smartfren
]
AREA_CODES = [
    *("21", "22", "24", "31", "61"),
    *("231", "271", "274", "341", "361", "370", "380", "411", "431", "511", "541", "561"),
    *("651", "711", "721", "751", "761", "911", "951", "967"),
]
NAMES = ["siti", "dewi", "rina", "budi", "agus", "putri", "ayu", "nur", "wati", "eko", "sri"]
DOMAINS = [
    *("gmail.com", "yahoo.com", "yahoo.co.id", "hotmail.com", "outlook.com", "ymail.com"),
    *("mail.ugm.ac.id", "students.itb.ac.id", "kemenpppa.go.id", "sd-negeri-3.sch.id"),
]
MONTHS = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus"]
MONTHS += ["September", "Oktober", "November", "Desember"]


def is_nik_structure(digits: str) -> bool:
    """The oracle: a real regency, a district, a calendar birth date (+40 for women), a serial."""
    if len(digits) != 16 or not digits.isdigit() or digits[:4] not in VALID_REGENCIES:
        return False
    day, month, year = int(digits[6:8]), int(digits[8:10]), int(digits[10:12])
    day -= 40 if day > 40 else 0
    if not 1 <= month <= 12:
        return False
    # Two-digit years: a day that exists in either century's year counts.
    longest = max(calendar.monthrange(century + year, month)[1] for century in (1900, 2000))
    return int(digits[4:6]) > 0 and 1 <= day <= longest and int(digits[12:]) > 0


def grouped(digits: str, sizes: list[int], separator: str) -> str:
    """``digits`` cut into groups of ``sizes``; what is left joins the last group, and a final
    group of one or two digits joins the one before (nobody writes 0812 3456 789 0)."""
    parts, position = [], 0
    for size in sizes:
        if position >= len(digits):
            break
        parts.append(digits[position : position + size])
        position += size
    parts[-1] += digits[position:]
    if len(parts) > 1 and len(parts[-1]) <= 2:
        parts[-2:] = [parts[-2] + parts[-1]]
    return separator.join(parts)


class Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def digits(self, count: int) -> str:
        return "".join(self.rng.choice("0123456789") for _ in range(count))

    def separator(self) -> str:
        return self.rng.choice([" ", " ", "-", "-", ".", " - "])

    # -- identifiers --------------------------------------------------------------------------

    def nik(self) -> str:
        rng = self.rng
        while True:
            year = rng.randint(1940, 2024)
            month = rng.randint(1, 12)
            day = rng.randint(1, calendar.monthrange(year, month)[1]) + rng.choice([0, 40])
            district = rng.randint(1, 45)
            serial = rng.randint(1, 9999) if rng.random() < 0.3 else rng.randint(1, 999)
            birth = f"{day:02}{month:02}{year % 100:02}"
            digits = f"{rng.choice(REGENCY_CODES)}{district:02}{birth}{serial:04}"
            if is_nik_structure(digits):
                break
        form = rng.random()
        if form < 0.6:
            return digits
        if form < 0.8:
            return grouped(digits, [4, 4, 4, 4], rng.choice([" ", ".", "-"]))
        if form < 0.9:
            return grouped(digits, [6, 6, 4], rng.choice([" ", ".", "-"]))
        return grouped(digits, [2, 2, 2, 6, 4], ".")

    def mobile(self) -> str:
        rng = self.rng
        national = rng.choice(MOBILE_PREFIXES) + self.digits(rng.choice([6, 7, 7, 8, 8, 8, 9]))
        sizes = rng.choice([[3, 4, 4, 4], [3, 4, 3, 4], [3, 3, 4, 4], [3, 8]])
        separator = self.separator()
        prefix = rng.random()
        if prefix < 0.5:
            local = "0" + national
            if rng.random() < 0.3:
                return local
            if rng.random() < 0.1:
                return f"({local[:4]}) {grouped(local[4:], [4, 4], separator)}"
            return grouped(local, [sizes[0] + 1, *sizes[1:]], separator)
        international = rng.choice(["+62", "+62", "62", "+62 ", "+62 (0)", "+62(0)", "+62-"])
        if rng.random() < 0.3 and international.strip() in ("+62", "62"):
            return international.strip() + national
        body = grouped(national, sizes, separator)
        if rng.random() < 0.1:
            body = f"({national[:3]}) {grouped(national[3:], [4, 4], separator)}"
        glue = "" if international[-1] in " )-" else rng.choice([" ", "-", " "])
        return international + glue + body

    def landline(self) -> str:
        rng = self.rng
        area = rng.choice(AREA_CODES)
        # Jakarta-style two-digit areas have 7-8 digit subscribers, the others 5-7.
        length = rng.randint(7, 8) if len(area) == 2 else rng.randint(5, 7)
        subscriber = str(rng.randint(2, 9)) + self.digits(length - 1)
        separator = rng.choice([" ", "-"])
        form = rng.random()
        if form < 0.3:
            return f"(0{area}) {grouped(subscriber, [3, 4], rng.choice(['', '-', ' ']))}"
        if form < 0.6:
            return f"0{area}{separator}{subscriber}"
        if form < 0.75:
            return f"0{area}{separator}{grouped(subscriber, [3, 4], separator)}"
        return f"+62{rng.choice([' ', '-'])}{area}{separator}{subscriber}"

    def phone(self) -> str:
        rng = self.rng
        if rng.random() < 0.03:
            return "wa.me/62" + rng.choice(MOBILE_PREFIXES) + self.digits(8)
        return self.landline() if rng.random() < 0.2 else self.mobile()

    def email(self) -> str:
        rng = self.rng
        local = rng.choice(NAMES)
        if rng.random() < 0.6:
            local += rng.choice([".", "_", ""]) + rng.choice(NAMES)
        if rng.random() < 0.5:
            local += str(rng.randint(1, 2005))
        if rng.random() < 0.05:
            local += "+lapor"
        if rng.random() < 0.2:
            local = local.capitalize()
        domain = rng.choice(DOMAINS)
        form = rng.random()
        if form < 0.85:
            return f"{local}@{domain}"
        if form < 0.92:
            return f"{local} [at] {domain.replace('.', ' [dot] ')}"
        if form < 0.96:
            return f"{local}(at){domain}"
        return f"{local} at {domain.replace('.', ' dot ')}"

    def receipt(self) -> str:
        code = format_receipt(generate_receipt())
        form = self.rng.random()
        if form < 0.6:
            return code
        if form < 0.8:
            return code.replace("-", "")
        return code.replace("-", " ").lower()

    # -- ordinary numbers ---------------------------------------------------------------------

    def date(self) -> str:
        rng = self.rng
        year = rng.randint(2015, 2026)
        day, month = rng.randint(1, 28), rng.randint(1, 12)
        return rng.choice(
            [
                f"{day:02}/{month:02}/{year}",
                f"{day:02}-{month:02}-{year}",
                f"{day}-{month}-{year}",
                f"{day:02}.{month:02}.{year}",
                f"{day} {MONTHS[month - 1]} {year}",
                f"{year}-{month:02}-{day:02}",
                f"{day}/{month}/{year % 100:02}",
            ]
        )

    def time(self) -> str:
        rng = self.rng
        hour, minute = rng.randint(0, 22), rng.choice([0, 5, 10, 15, 30, 45])
        return rng.choice(
            [
                f"{hour:02}.{minute:02}",
                f"{hour:02}:{minute:02}",
                f"{hour}.{minute:02}",
                f"{hour:02}.{minute:02}-{hour + 1:02}.00",
                f"{hour:02}.{minute:02} - {hour + 1:02}.{minute:02}",
            ]
        )

    def money(self) -> str:
        rng = self.rng
        amount = rng.choice([5, 10, 20, 25, 50, 100, 150, 200, 250, 500, 750]) * 1000
        amount *= rng.choice([1, 1, 10, 100])
        dotted = f"{amount:,}".replace(",", ".")
        return rng.choice(
            [
                f"Rp {dotted}",
                f"Rp{dotted}",
                f"Rp {dotted},00",
                f"{dotted} rupiah",
                f"Rp {amount // 1000} ribu",
                f"{amount / 1_000_000:.1f} juta".replace(".", ","),
                f"Rp {dotted} - {f'{amount * 2:,}'.replace(',', '.')}",
            ]
        )

    def not_a_nik(self) -> str:
        """16 digits that fail the NIK structure: a card number, an account, a near miss."""
        rng = self.rng
        while True:
            kind = rng.random()
            if kind < 0.3:
                digits = luhn(rng.choice(["4", "5"]) + self.digits(14))
            elif kind < 0.6:
                digits = self.digits(16)
            else:
                nik = list(self.nik().replace(" ", "").replace(".", "").replace("-", ""))
                field = rng.choice([(8, 10, "13"), (6, 8, "32"), (12, 16, "0000"), (0, 2, "99")])
                nik[field[0] : field[1]] = field[2]
                digits = "".join(nik)
            if not is_nik_structure(digits):
                break
        if rng.random() < 0.5:
            return digits
        return grouped(digits, [4, 4, 4, 4], rng.choice([" ", "-"]))

    def year(self) -> str:
        return str(self.rng.randint(1985, 2026))

    def house(self) -> str:
        rng = self.rng
        number = rng.randint(1, 250)
        return rng.choice(
            [f"No. {number}", f"no {number}", f"No.{number}A", f"Blok C{rng.randint(1, 9)}"]
        )

    def small(self) -> str:
        return str(self.rng.randint(1, 40))

    def neighbourhood(self) -> str:
        rng = self.rng
        rt, rw = rng.randint(1, 20), rng.randint(1, 15)
        return rng.choice([f"RT {rt:02}/RW {rw:02}", f"RT {rt:03} RW {rw:03}", f"RT.{rt}/RW.{rw}"])


def luhn(partial: str) -> str:
    total = 0
    for index, digit in enumerate(reversed(partial)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return partial + str((10 - total % 10) % 10)


PII_SENTENCES = {
    "phone": [
        "Nomor HP pelaku {}, tolong jangan hubungi dulu.",
        "Dia sering menelepon dari nomor {} malam-malam.",
        "Kalau perlu hubungi saya di {} ya.",
        "WA ibu saya: {}",
        "Nomornya {} sudah saya blokir.",
        "hp:{} (punya om nya)",
        "Telp/WA {}.",
        "Nomor barunya ({}), yang lama sudah mati.",
        "Dia chat dari {} {} kali sehari.",
    ],
    "nik": [
        "NIK anak saya {}.",
        "NIK pelaku {} (saya lihat di KTP-nya).",
        "Nomor KTP: {}",
        "nik {} atas nama ibunya",
        "Ini NIK kakak saya {} {} tahun umurnya.",
    ],
    "email": [
        "email saya {}",
        "Dia kirim pesan dari {} setiap hari.",
        "Akun emailnya {}, fotonya disebar dari situ.",
        "kirim ke email: {}.",
    ],
    "receipt": [
        "Kode laporan sebelumnya {}.",
        "Saya sudah lapor dengan kode {} tapi belum ada kabar.",
        "kode: {}",
    ],
}
ORDINARY_SENTENCES: dict[str, list[str]] = {
    "date": [
        "Kejadiannya tanggal {} malam.",
        "Mulai {} dia tidak boleh keluar rumah.",
        "Terakhir dipukul {} {} di dapur.",
    ],
    "time": ["Sekitar jam {} dia pulang mabuk.", "Pukul {} sampai subuh.", "jam {} WIB"],
    "money": [
        "Dia minta uang {} setiap bulan.",
        "Gaji saya {} diambil semua.",
        "Utangnya {} katanya harus dibayar dengan anak saya.",
    ],
    "not_a_nik": [
        "Nomor kartu ATM yang dia ambil {}.",
        "Nomor rekening virtual {} untuk kirim uang.",
        "Ada nomor {} di kertas yang dia tinggalkan.",
    ],
    "year": ["Sejak tahun {} dia begitu.", "Dari {} sampai sekarang.", "Anak lahir {}."],
    "house": ["Kami tinggal di Jl. Melati {} dekat masjid.", "Rumahnya {} gang buntu."],
    "small": [
        "Anak saya umur {} tahun.",
        "Sudah {} kali terjadi.",
        "Jaraknya {} km dari sekolah.",
        "Berat badannya turun {} kg.",
    ],
    "neighbourhood": ["Di {} kampung kami.", "Alamat {} Kelurahan Sukarame."],
}
FILLER = [
    "Saya takut sekali.",
    "Tolong bantu kami.",
    "Anak saya tidak mau sekolah lagi.",
    "Dia bilang kalau saya lapor, saya akan dibunuh.",
    "Tetangga tahu tapi diam saja.",
    "Saya tidak tahu harus ke mana.",
    "Sudah lapor RT tapi tidak ditanggapi.",
    "Maaf tulisan saya berantakan.",
]
# A sentence's second slot (if any) holds an ordinary number right after the first.
SECOND_SLOT: dict[str, Callable[[Generator], str]] = {
    "phone": Generator.small,
    "nik": Generator.small,
    "date": Generator.time,
}


@dataclass(frozen=True)
class Item:
    kind: str
    start: int
    end: int
    pii: bool


class Story:
    def __init__(self) -> None:
        self.text = ""
        self.items: list[Item] = []

    def add(self, template: str, values: list[tuple[str, str]], *, pii: bool) -> None:
        pieces = template.split("{}")
        for index, piece in enumerate(pieces[:-1]):
            self.text += piece
            kind, value = values[index]
            start = len(self.text)
            self.text += value
            self.items.append(Item(kind, start, len(self.text), pii and index == 0))
        self.text += pieces[-1] + " "


def generate_corpus(seed: int = SEED, stories: int = STORIES) -> list[Story]:
    rng = random.Random(seed)
    make = Generator(rng)
    corpus = []
    for _ in range(stories):
        story = Story()
        sentences: list[tuple[str, bool]] = [
            (kind, True) for kind in rng.sample(list(PII_SENTENCES), rng.randint(1, 3))
        ]
        sentences += [(kind, False) for kind in rng.sample(list(ORDINARY_SENTENCES), 4)]
        sentences += [("", False)] * rng.randint(1, 3)
        rng.shuffle(sentences)
        for kind, pii in sentences:
            if not kind:
                story.add(rng.choice(FILLER), [], pii=False)
                continue
            template = rng.choice((PII_SENTENCES if pii else ORDINARY_SENTENCES)[kind])
            values = [(kind, getattr(make, kind)())]
            if template.count("{}") == 2:
                second = SECOND_SLOT[kind]
                values.append((second.__name__, second(make)))
            story.add(template, values, pii=pii)
        corpus.append(story)
    return corpus


@dataclass
class Measurement:
    found: Counter[str]
    total: Counter[str]
    touched: Counter[str]
    ordinary: Counter[str]
    missed: dict[str, list[str]]
    wrongly: dict[str, list[str]]

    def recall(self, kind: str) -> float:
        return self.found[kind] / self.total[kind]

    def false_positive_rate(self, kind: str | None = None) -> float:
        if kind is None:
            return sum(self.touched.values()) / sum(self.ordinary.values())
        return self.touched[kind] / self.ordinary[kind]


def measure(corpus: list[Story]) -> Measurement:
    result = Measurement(Counter(), Counter(), Counter(), Counter(), {}, {})
    for story in corpus:
        findings = find_pii(story.text)
        for item in story.items:
            value = story.text[item.start : item.end]
            if item.pii:
                result.total[item.kind] += 1
                if any(
                    f.kind == item.kind and f.start <= item.start and item.end <= f.end
                    for f in findings
                ):
                    result.found[item.kind] += 1
                else:
                    result.missed.setdefault(item.kind, []).append(value)
            else:
                result.ordinary[item.kind] += 1
                if any(f.start < item.end and item.start < f.end for f in findings):
                    result.touched[item.kind] += 1
                    result.wrongly.setdefault(item.kind, []).append(value)
    return result


@pytest.fixture(scope="module")
def measured() -> Measurement:
    result = measure(generate_corpus())
    print(f"\nPII masker on {STORIES} synthetic stories (seed {SEED}):")
    for kind in sorted(result.total):
        print(
            f"  recall {kind:<8} {result.recall(kind):.4f}"
            f"  ({result.found[kind]}/{result.total[kind]})"
            f"  missed e.g. {result.missed.get(kind, [])[:3]}"
        )
    for kind in sorted(result.ordinary):
        print(
            f"  false positives {kind:<14} {result.false_positive_rate(kind):.4f}"
            f"  ({result.touched[kind]}/{result.ordinary[kind]})"
            f"  e.g. {result.wrongly.get(kind, [])[:3]}"
        )
    print(f"  false positives overall {result.false_positive_rate():.4f}")
    return result


def test_the_corpus_holds_every_kind_of_identifier_and_number(measured: Measurement) -> None:
    for kind in ("nik", "phone", "email", "receipt"):
        assert measured.total[kind] >= 1000, kind
    for kind in ORDINARY_SENTENCES:
        assert measured.ordinary[kind] >= 1000, kind


@pytest.mark.parametrize("kind", sorted(RECALL_NEEDED))
def test_recall_of_identifiers_meets_the_target(measured: Measurement, kind: str) -> None:
    assert measured.recall(kind) >= RECALL_NEEDED[kind], measured.missed.get(kind, [])[:20]


def test_receipts_are_all_found(measured: Measurement) -> None:
    assert measured.recall("receipt") == 1.0, measured.missed.get("receipt", [])[:20]


@pytest.mark.parametrize("kind", sorted(ORDINARY_SENTENCES))
def test_ordinary_numbers_are_rarely_masked(measured: Measurement, kind: str) -> None:
    rate = measured.false_positive_rate(kind)
    assert rate <= FALSE_POSITIVES_ALLOWED, measured.wrongly.get(kind, [])[:20]
