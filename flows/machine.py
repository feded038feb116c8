"""One ``transitions.Machine`` per flow, built once at start-up.

States are the flow's steps (plus ``end``). For each step, an option with its own route fires the
trigger ``choose_<option>``; every other answer fires ``advance``, whose transitions are the step's
``next`` routes in order, each guarded by its condition. Conditions and route effects are names of
methods of the model (:class:`flows.engine.Turn`), attached for one step and detached after.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from transitions import Machine, Transition

from flows.regions import Regions
from flows.safety import Contact
from flows.spec import END, FlowSpec, Route
from flows.texts import Catalogue

ADVANCE = "advance"

# With model_override, transitions logs a warning for every trigger it does not bind, on every
# attach: that is the intended behaviour here, not news, and not worth a log line per turn.
logging.getLogger("transitions.core").setLevel(logging.ERROR)


def option_trigger(option: str) -> str:
    return f"choose_{option}"


def local_target(route: Route) -> str:
    """The state a route leads to inside its flow (another flow's step is reached via ``end``)."""
    return route.to if "." not in route.to else END


class RouteTransition(Transition):
    """A transition that knows the route it came from (target outside the flow, its effects)."""

    route: Route | None = None


class FlowMachine(Machine):
    transition_cls = RouteTransition


def build_machine(spec: FlowSpec) -> FlowMachine:
    machine = FlowMachine(
        model=None,
        states=[*spec.steps, END],
        initial=spec.start,
        auto_transitions=False,
        model_override=True,  # bind nothing onto the model: triggers are fired through the machine
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
