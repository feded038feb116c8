"""Mistakes in a flow file stop start-up with the file and line that are wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.loader import DEFINITIONS, FlowDefinitionError, load_flows
from flows.texts import LOCALES


@pytest.fixture
def definitions(tmp_path: Path) -> Path:
    target = tmp_path / "definitions"
    shutil.copytree(DEFINITIONS, target)
    return target


def edit(path: Path, old: str, new: str) -> int:
    """Replace ``old`` once; the 1-based line where it stood."""
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    line = text[: text.index(old)].count("\n") + 1
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return line


def test_the_shipped_definitions_load() -> None:
    loaded = load_flows()
    assert set(loaded.specs) == {"report", "status"}


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("if: perpetrator_is_close", "if: perp_is_close", "unknown condition 'perp_is_close'"),
        ("effects: [mark_danger,", "effects: [mark_danjer,", "unknown effect 'mark_danjer'"),
        ("- {to: lives_with, if:", "- {to: live_with, if:", "route to unknown step 'live_with'"),
        ("    next: victim_gender", "    next: victim_gendr", "unknown step 'victim_gendr'"),
        (
            "    options: [female, male, skip]",
            "    options: [female, male, skip, other]",
            "text 'victim_gender.other' is missing",
        ),
        (
            "    editable: true\n    options: [female",
            "    editible: true\n    options: [female",
            "Extra inputs are not permitted",
        ),
    ],
)
def test_a_mistake_names_file_and_line(definitions: Path, old: str, new: str, message: str) -> None:
    path = definitions / "report.yaml"
    line = edit(path, old, new)
    with pytest.raises(FlowDefinitionError) as raised:
        load_flows(definitions)
    text = str(raised.value)
    assert message in text
    reported = int(text.split(":")[1])
    assert abs(reported - line) <= 2, text


@pytest.mark.parametrize("locale", LOCALES)
def test_a_missing_text_in_any_locale_fails(definitions: Path, locale: str) -> None:
    edit(definitions / f"texts.{locale}.yaml", "category.trafficking:", "category.trafficked:")
    with pytest.raises(FlowDefinitionError, match=r"category\.trafficking"):
        load_flows(definitions)


def test_an_unconditional_last_route_is_required(definitions: Path) -> None:
    edit(
        definitions / "report.yaml", "      - {to: story}", "      - {to: story, if: has_province}"
    )
    with pytest.raises(FlowDefinitionError, match="needs no 'if'"):
        load_flows(definitions)


def test_yes_and_no_are_option_ids_not_booleans() -> None:
    loaded = load_flows()
    assert loaded.specs["report"].steps["danger"].options == ["yes", "no"]


def test_button_labels_fit_whatsapp() -> None:
    """Reply buttons take 20 characters, list rows 24 (PROTOCOLS.md)."""
    loaded = load_flows()
    for spec in loaded.specs.values():
        for name, step in spec.steps.items():
            limit = 20 if len(step.options) <= 3 else 24
            for option in step.options:
                for locale in LOCALES:
                    label = loaded.catalogue.text(f"{name}.{option}", locale)
                    assert len(label) <= limit, (locale, name, option, label)
