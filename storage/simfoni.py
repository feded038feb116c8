"""SIMFONI PPA's categories, and every mapping table to them, in one place.

SIMFONI PPA is the national case register of the Ministry of Women's Empowerment and Child
Protection; every UPTD PPA types its cases into it. The case record (:mod:`storage.cases`) keeps
SIMFONI's codes (CONTRACT §8); the export and the console show SIMFONI's labels for them.

The reporter's answers (the flow's options, CONTRACT §4) fill a case field only where an option
means exactly one SIMFONI value. Every option of a mapped step is listed below: a code, or
``None`` when it does not decide the SIMFONI value (the officer chooses). A test keeps these tables
complete against the loaded flow, so a new option cannot slip through unmapped.
"""

from __future__ import annotations

from datetime import timedelta, timezone
from types import MappingProxyType
from typing import Any, Literal, get_args

# The reporting day: SIMFONI counts cases by the date received, and the agencies this serves keep
# western Indonesian time (the console shows the same zone).
WIB = timezone(timedelta(hours=7), "WIB")

AgeBand = Literal["0-5", "6-12", "13-17", "18-24", "25-44", "45-59", "60+"]
Sex = Literal["L", "P"]
ViolenceForm = Literal[
    "fisik", "psikis", "seksual", "eksploitasi", "trafficking", "penelantaran", "lainnya"
]
Place = Literal[
    "rumah_tangga",
    "tempat_kerja",
    "sekolah",
    "fasilitas_umum",
    "lembaga_pendidikan_kilat",
    "lainnya",
]
Relation = Literal[
    "orang_tua",
    "keluarga",
    "suami_istri",
    "pacar_teman",
    "guru",
    "majikan",
    "rekan_kerja",
    "tetangga",
    "lainnya",
]
# SIMFONI's kinds of service given to a victim (its "Layanan" section).
Service = Literal[
    "pengaduan",
    "kesehatan",
    "bantuan_hukum",
    "penegakan_hukum",
    "rehabilitasi_sosial",
    "reintegrasi_sosial",
    "pemulangan",
    "pendampingan_tokoh_agama",
    "penampungan_sementara",
    "mediasi",
]

AGE_BANDS: tuple[str, ...] = get_args(AgeBand)
SEXES: tuple[str, ...] = get_args(Sex)
VIOLENCE_FORMS: tuple[str, ...] = get_args(ViolenceForm)
PLACES: tuple[str, ...] = get_args(Place)
RELATIONS: tuple[str, ...] = get_args(Relation)
SERVICES: tuple[str, ...] = get_args(Service)

# SIMFONI's own words for its codes (the export's cells, the console's choices).
LABELS: MappingProxyType[str, MappingProxyType[str, str]] = MappingProxyType(
    {
        "victim_age_band": MappingProxyType({band: band for band in AGE_BANDS}),
        "sex": MappingProxyType({"L": "Laki-laki", "P": "Perempuan"}),
        "violence_forms": MappingProxyType(
            {
                "fisik": "Fisik",
                "psikis": "Psikis",
                "seksual": "Seksual",
                "eksploitasi": "Eksploitasi",
                "trafficking": "Trafficking",
                "penelantaran": "Penelantaran",
                "lainnya": "Lainnya",
            }
        ),
        "place": MappingProxyType(
            {
                "rumah_tangga": "Rumah Tangga",
                "tempat_kerja": "Tempat Kerja",
                "sekolah": "Sekolah",
                "fasilitas_umum": "Fasilitas Umum",
                "lembaga_pendidikan_kilat": "Lembaga Pendidikan Kilat",
                "lainnya": "Lainnya",
            }
        ),
        "perpetrator_relation": MappingProxyType(
            {
                "orang_tua": "Orang Tua",
                "keluarga": "Keluarga/Saudara",
                "suami_istri": "Suami/Istri",
                "pacar_teman": "Pacar/Teman",
                "guru": "Guru",
                "majikan": "Majikan",
                "rekan_kerja": "Rekan Kerja",
                "tetangga": "Tetangga",
                "lainnya": "Lainnya",
            }
        ),
        "services_given": MappingProxyType(
            {
                "pengaduan": "Pengaduan",
                "kesehatan": "Kesehatan",
                "bantuan_hukum": "Bantuan Hukum",
                "penegakan_hukum": "Penegakan Hukum",
                "rehabilitasi_sosial": "Rehabilitasi Sosial",
                "reintegrasi_sosial": "Reintegrasi Sosial",
                "pemulangan": "Pemulangan",
                "pendampingan_tokoh_agama": "Pendampingan Tokoh Agama",
                "penampungan_sementara": "Penampungan Sementara",
                "mediasi": "Mediasi",
            }
        ),
    }
)

# --- the reporter's answers → SIMFONI ------------------------------------------------------------
# Per flow step (the report's column of the same name): the case field it fills and, for every
# option of the step, the SIMFONI code it means, or None where it does not decide one.

VICTIM_AGE: dict[str, str | None] = {
    # The flow asks child / adult only (a reporter rarely knows an exact age); no band follows.
    "child": None,
    "adult": None,
    "unknown": None,
}
VICTIM_GENDER: dict[str, str | None] = {"female": "P", "male": "L", "skip": None}
CATEGORY: dict[str, str | None] = {
    "sexual": "seksual",
    "physical": "fisik",
    "psychological": "psikis",
    "neglect": "penelantaran",
    "trafficking": "trafficking",
    # Online violence is a medium, not a form: SIMFONI records it as sexual, psychic, … .
    "online": None,
    # Child marriage has no form of its own in SIMFONI; the officer judges which applies.
    "child_marriage": None,
    # "Other" as the reporter saw it may well be one of SIMFONI's named forms.
    "other": None,
}
PLACE: dict[str, str | None] = {
    "home": "rumah_tangga",
    "school": "sekolah",
    "workplace": "tempat_kerja",
    "public": "fasilitas_umum",
    "online": None,  # no place in SIMFONI's list
    "other": None,  # may be a named place (a short course, a boarding house): the officer's call
}
PERPETRATOR: dict[str, str | None] = {
    "family": "keluarga",
    "caregiver_teacher": "guru",
    "partner": None,  # a spouse (suami_istri) or a boy/girlfriend (pacar_teman)
    "known": None,  # a neighbour, an employer, a colleague, a friend …
    "stranger": None,  # SIMFONI has no "stranger": lainnya, or a relation learnt later
    "skip": None,
}

# flow step → (case field, table). Steps not listed (reporter, ongoing, when, …) have no SIMFONI
# field; the region is exported by name from the report's codes.
FROM_REPORTER: MappingProxyType[str, tuple[str, dict[str, str | None]]] = MappingProxyType(
    {
        "victim_age": ("victim_age_band", VICTIM_AGE),
        "victim_gender": ("victim_sex", VICTIM_GENDER),
        "category": ("violence_forms", CATEGORY),
        "place": ("place", PLACE),
        "perpetrator": ("perpetrator_relation", PERPETRATOR),
    }
)

# The export's columns, in order, with SIMFONI's headers (CONTRACT §8).
COLUMNS = (
    "Kode",
    "Tanggal Lapor",
    "Provinsi",
    "Kabupaten/Kota",
    "Usia Korban",
    "Jenis Kelamin Korban",
    "Bentuk Kekerasan",
    "Tempat Kejadian",
    "Hubungan Pelaku",
    "Layanan",
    "Status",
)


def prefill(answers: dict[str, str | None]) -> dict[str, Any]:
    """The case fields the reporter's answers decide (a list for the forms of violence)."""
    filled: dict[str, Any] = {}
    for step, (field, table) in FROM_REPORTER.items():
        answer = answers.get(step)
        code = table.get(answer) if answer is not None else None
        if code is None:
            continue
        filled[field] = [code] if field == "violence_forms" else code
    return filled


def label(field: str, code: str) -> str:
    """SIMFONI's word for a code (a code no longer listed is shown as stored)."""
    table = LABELS["sex" if field in ("victim_sex", "perpetrator_sex") else field]
    return table.get(code, code)
