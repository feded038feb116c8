"""One ``transitions.Machine`` per flow, built once at start-up.

States are the flow's steps (plus ``end``). For each step, an option with its own route fires the
trigger ``choose_<option>``; every other answer fires ``advance``, whose transitions are the step's
``next`` routes in order, each guarded by its condition. Conditions and route effects are names of
methods of the model (:class:`flows.engine.Turn`), attached for one step and detached after.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from transitions import Machine, State, Transition

from flows.regions import Regions
from flows.safety import Contact, format_contacts, label_form
from flows.spec import END, FlowSpec, Route
from flows.texts import LOCALES, Catalogue

ADVANCE = "advance"


def option_trigger(option: str) -> str:
    return f"choose_{option}"


def local_target(route: Route) -> str:
    """The state a route leads to inside its flow (another flow's step is reached via ``end``)."""
    return route.to if "." not in route.to else END


class RouteTransition(Transition):
    """A transition that knows the route it came from (target outside the flow, its effects)."""

    route: Route | None = None


class FlowMachine(Machine):
    """A Machine whose models get nothing bound onto them.

    The engine fires triggers through ``machine.events`` and keeps no per-state callbacks on the
    model, so the convenience methods transitions would bind at every attach (``to_x``, ``is_x``,
    ``on_enter_x``, one per trigger and state) are unused; skipping them makes attaching a model
    for one step cheap enough to do on every turn (see bench/engine_bench.py).
    """

    transition_cls = RouteTransition

    def add_model(self, model: Any, initial: str | Enum | State | None = None) -> None:
        # Register and place the model; bind nothing (Machine.add_model binds per trigger/state).
        self.models.append(model)
        self.set_state(initial if initial is not None else str(self.initial), model=model)


def build_machine(spec: FlowSpec) -> FlowMachine:
    machine = FlowMachine(
        model=None,
        states=[*spec.steps, END],
        initial=spec.start,
        auto_transitions=False,
        model_override=False,
        send_event=True,
        ignore_invalid_triggers=False,
    )
    for name, step in spec.steps.items():
        for option, route in step.on.items():
            _add(machine, option_trigger(option), name, route)
        for route in step.next:
            _add(machine, ADVANCE, name, route)
    return machine


def _add(machine: FlowMachine, trigger: str, source: str, route: Route) -> None:
    machine.add_transition(
        trigger,
        source,
        local_target(route),
        conditions=[route.if_] if route.if_ else None,
        after=["take_route", *route.effects],
    )
    added = machine.events[trigger].transitions[source][-1]
    assert isinstance(added, RouteTransition)
    added.route = route


@dataclass(frozen=True)
class Flows:
    """Everything the engine needs, loaded and checked once per process."""

    specs: dict[str, FlowSpec]
    machines: dict[str, FlowMachine]
    catalogue: Catalogue
    contacts: list[Contact]
    regions: Regions
    default_locale: str = "id"
    # Made once from the above: contacts as shown per locale, and per (flow, step) the typed
    # forms (label in any locale, or id) of each option.
    contact_lines: dict[str, str] = field(default_factory=dict)
    option_words: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for locale in LOCALES:
            self.contact_lines[locale] = format_contacts(self.contacts, locale)
        for flow, spec in self.specs.items():
            for name, step in spec.steps.items():
                words: dict[str, str] = {}
                for option in step.options:
                    words.setdefault(label_form(option), option)
                    for label in self.catalogue.labels(f"{name}.{option}"):
                        words.setdefault(label_form(label), option)
                self.option_words[(flow, name)] = words
