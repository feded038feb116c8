"""Read and check the flow definitions once at start-up; any mistake fails with file and line.

Checks beyond the schema: every route leads to a known step (or ``end``, or ``flow.step``), every
condition and effect exists in the engine, every ``on`` key is an option, every step waits with at
least one option, the last ``next`` route has no condition, and every text key a step or option
uses exists in every locale.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from flows.engine import CONDITIONS, EFFECTS, REPORT_FLOW, STATUS_FLOW
from flows.machine import Flows, build_machine
from flows.regions import Regions
from flows.safety import load_contacts
from flows.spec import END, FlowSpec, Route, Step, StepKind
from flows.texts import LOCALES, Catalogue

DEFINITIONS = Path(__file__).with_name("definitions")
REQUIRED_FLOWS = (REPORT_FLOW, STATUS_FLOW)
# Texts the engine itself says (not tied to a step of a flow file).
ENGINE_TEXTS = (
    "not_understood",
    "stale_choice",
    "unsupported",
    "media.not_now",
    "help",
    "emergency",
    "danger.detected",
    "exit.done",
    "back.note",
    "back.first",
    "expired",
    "story.more",
    "story.full",
    "region.pick",
    "region.not_found",
    "phone.invalid",
    "evidence.received",
    "evidence.added_to_story",
    "receipt.not_found",
    "receipt.too_many",
    "reply.sent",
    "summary.nothing",
    "summary.story",
    "title.evidence",
    "case.messages",
    "case.from.officer",
    "case.from.reporter",
    "case.status.received",
    "case.status.in_progress",
    "case.status.referred",
    "case.status.closed",
    "rate_limited",
    "report.too_many",
    "error",
)


class FlowDefinitionError(Exception):
    """A flow or text file is wrong; the message starts with ``file:line:``."""


@dataclass
class _Located:
    """A parsed YAML document and the line of every mapping key path in it."""

    path: Path
    data: Any
    lines: dict[tuple[str | int, ...], int]

    def line(self, *location: str | int) -> int:
        for end in range(len(location), -1, -1):
            found = self.lines.get(tuple(location[:end]))
            if found is not None:
                return found
        return 1

    def error(self, message: str, *location: str | int) -> FlowDefinitionError:
        return FlowDefinitionError(f"{self.path}:{self.line(*location)}: {message}")


class _StringLoader(yaml.SafeLoader):
    """YAML 1.1 would read the option ids ``yes``/``no``/``on``/``off`` as booleans; here they are
    strings (only ``true``/``false`` are booleans)."""


_StringLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_StringLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


def _read(path: Path) -> _Located:
    try:
        node = yaml.compose(path.read_text(encoding="utf-8"), Loader=_StringLoader)
    except (OSError, yaml.YAMLError) as error:
        raise FlowDefinitionError(f"{path}:1: cannot read: {error}") from None
    lines: dict[tuple[str | int, ...], int] = {}
    data = _to_python(node, (), lines) if node is not None else {}
    return _Located(path, data, lines)


def _to_python(
    node: yaml.Node, location: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]
) -> Any:
    lines[location] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(_StringLoader.construct_scalar(_StringLoader(""), key_node))
            lines[(*location, key)] = key_node.start_mark.line + 1
            result[key] = _to_python(value_node, (*location, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(item, (*location, i), lines) for i, item in enumerate(node.value)]
    loader = _StringLoader("")
    return loader.construct_object(node, deep=True)


def load_flows(
    directory: Path = DEFINITIONS,
    *,
    contacts_file: Path | None = None,
    default_locale: str = "id",
    regions: Regions | None = None,
) -> Flows:
    texts = {locale: _load_texts(directory / f"texts.{locale}.yaml") for locale in LOCALES}
    catalogue = Catalogue(texts)
    specs: dict[str, FlowSpec] = {}
    sources: dict[str, _Located] = {}
    for path in sorted(directory.glob("*.yaml")):
        if path.name.startswith("texts."):
            continue
        located = _read(path)
        try:
            spec = FlowSpec.model_validate(located.data)
        except ValidationError as error:
            first = error.errors()[0]
            location = tuple(first["loc"])
            where = ".".join(str(part) for part in location)
            raise located.error(f"{where}: {first['msg']}", *location) from None
        if spec.flow in specs:
            raise located.error(f"flow {spec.flow!r} is defined twice", "flow")
        specs[spec.flow] = spec
        sources[spec.flow] = located
    for required in REQUIRED_FLOWS:
        if required not in specs:
            raise FlowDefinitionError(f"{directory}: no flow named {required!r}")
    for name, spec in specs.items():
        _check(spec, specs, sources[name], catalogue)
    for key in ENGINE_TEXTS:
        for locale in LOCALES:
            if not catalogue.has(key, locale):
                path = directory / f"texts.{locale}.yaml"
                raise FlowDefinitionError(f"{path}:1: missing text {key!r}")
    return Flows(
        specs=specs,
        machines={name: build_machine(spec) for name, spec in specs.items()},
        catalogue=catalogue,
        contacts=load_contacts(contacts_file),
        regions=regions or Regions.load(),
        default_locale=default_locale,
    )


def _load_texts(path: Path) -> dict[str, str]:
    located = _read(path)
    if not isinstance(located.data, dict):
        raise located.error("a text file is a mapping of keys to texts")
    texts: dict[str, str] = {}
    for key, value in located.data.items():
        if not isinstance(value, str):
            raise located.error(f"text {key!r} is not a string", key)
        texts[key] = value
    return texts


def _check(
    spec: FlowSpec, specs: dict[str, FlowSpec], source: _Located, catalogue: Catalogue
) -> None:
    if spec.start not in spec.steps:
        raise source.error(f"start step {spec.start!r} is not a step", "start")
    for name, step in spec.steps.items():
        where = ("steps", name)
        if not step.options:
            raise source.error(f"step {name!r} offers no option", *where)
        for option in step.on:
            if option not in step.options:
                raise source.error(f"{option!r} in 'on' is not an option of {name!r}", *where, "on")
        _check_routes(step, specs, spec, source, catalogue, where=where)
        if step.next and step.next[-1].if_ is not None:
            raise source.error(f"the last 'next' route of {name!r} needs no 'if'", *where, "next")
        needs_next = [option for option in step.options if option not in step.on]
        if needs_next and not step.next and step.kind is not StepKind.edit:
            raise source.error(f"{name!r}: options {needs_next} lead nowhere", *where)
        _check_text(step.prompt or name, catalogue, source, where)
        if step.reprompt:
            _check_text(step.reprompt, catalogue, source, where)
        for option in step.options:
            _check_text(f"{name}.{option}", catalogue, source, (*where, "options"))
        if step.editable:
            _check_text(f"title.{name}", catalogue, source, where)


def _check_routes(
    step: Step,
    specs: dict[str, FlowSpec],
    spec: FlowSpec,
    source: _Located,
    catalogue: Catalogue,
    *,
    where: tuple[str, str],
) -> None:
    routes: list[tuple[tuple[str | int, ...], Route]] = [
        (("on", option), route) for option, route in step.on.items()
    ]
    routes += [(("next", index), route) for index, route in enumerate(step.next)]
    for location, route in routes:
        _check_route(route.to, specs, spec, source, (*where, *location))
        if route.if_ is not None and route.if_ not in CONDITIONS:
            raise source.error(f"unknown condition {route.if_!r}", *where, *location)
        for name_of_effect in route.effects:
            if name_of_effect not in EFFECTS:
                raise source.error(f"unknown effect {name_of_effect!r}", *where, *location)
        if route.say is not None:
            _check_text(route.say, catalogue, source, (*where, *location))


def _check_route(
    target: str,
    specs: dict[str, FlowSpec],
    spec: FlowSpec,
    source: _Located,
    location: tuple[str | int, ...],
) -> None:
    if target == END or target in spec.steps:
        return
    flow, _, state = target.partition(".")
    if state and flow in specs and state in specs[flow].steps:
        return
    raise source.error(f"route to unknown step {target!r}", *location)


def _check_text(
    key: str, catalogue: Catalogue, source: _Located, location: tuple[str | int, ...]
) -> None:
    for locale in LOCALES:
        if not catalogue.has(key, locale):
            raise source.error(f"text {key!r} is missing in locale {locale!r}", *location)
