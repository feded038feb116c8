"""The mapping tables from the reporter's answers to SIMFONI PPA's codes, against the loaded flow:
no option of a mapped step may be left out, and no table may name a code SIMFONI does not have."""

from __future__ import annotations

import pytest

from flows.loader import load_flows
from flows.report import REPORT_FIELDS
from storage import simfoni

CODES = {
    "victim_age_band": simfoni.AGE_BANDS,
    "victim_sex": simfoni.SEXES,
    "violence_forms": simfoni.VIOLENCE_FORMS,
    "place": simfoni.PLACES,
    "perpetrator_relation": simfoni.RELATIONS,
}


@pytest.mark.parametrize("step", sorted(simfoni.FROM_REPORTER))
def test_every_option_of_a_mapped_step_is_mapped_or_explicitly_unmapped(step: str) -> None:
    options = load_flows().specs["report"].steps[step].options
    field, table = simfoni.FROM_REPORTER[step]
    assert options, f"the flow has no step {step!r} with options"
    assert sorted(table) == sorted(options)
    for option, code in table.items():
        assert code is None or code in CODES[field], (option, code)


def test_every_mapped_step_is_a_step_of_the_report_flow_and_a_report_column() -> None:
    steps = load_flows().specs["report"].steps
    for step in simfoni.FROM_REPORTER:
        assert step in steps
        assert step in REPORT_FIELDS


def test_the_answers_that_mean_one_simfoni_value_fill_the_case() -> None:
    filled = simfoni.prefill(
        {
            "victim_age": "child",
            "victim_gender": "female",
            "category": "sexual",
            "place": "home",
            "perpetrator": "caregiver_teacher",
        }
    )
    assert filled == {
        "victim_sex": "P",
        "violence_forms": ["seksual"],
        "place": "rumah_tangga",
        "perpetrator_relation": "guru",
    }
    assert simfoni.prefill(
        {"victim_gender": "male", "place": "workplace", "perpetrator": "family"}
    ) == {"victim_sex": "L", "place": "tempat_kerja", "perpetrator_relation": "keluarga"}


@pytest.mark.parametrize(
    "answers",
    [
        {"victim_age": "adult"},
        {"victim_gender": "skip"},
        {"category": "online"},
        {"category": "child_marriage"},
        {"place": "online"},
        {"place": "other"},
        {"perpetrator": "partner"},
        {"perpetrator": "known"},
        {"victim_gender": None, "category": None},
    ],
)
def test_answers_that_do_not_decide_a_simfoni_value_leave_it_empty(
    answers: dict[str, str | None],
) -> None:
    assert simfoni.prefill(answers) == {}


def test_every_code_has_simfoni_s_word_and_the_export_has_its_eleven_columns() -> None:
    for field, codes in {**CODES, "services_given": simfoni.SERVICES}.items():
        for code in codes:
            assert simfoni.label(field, code), (field, code)
    assert simfoni.label("perpetrator_sex", "P") == "Perempuan"
    assert simfoni.COLUMNS[0] == "Kode"
    assert len(simfoni.COLUMNS) == 11
