"""The pure engine: ``step(flows, snapshot, input) -> StepResult``. No I/O, no clock, no randomness.

A turn attaches a :class:`Turn` to the flow's machine, fires one trigger and detaches it. The
snapshot is a plain JSON-able dict: the inbox stores it encrypted and hands it back next time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from transitions import EventData

from flows.machine import ADVANCE, Flows, RouteTransition, option_trigger
from flows.regions import Region
from flows.report import CLOSE_PERPETRATORS, parse_phone, priority_of, report_fields
from flows.safety import Command, command_of, has_danger_phrase, label_form
from flows.spec import END, Route, Step, StepKind
from flows.texts import Catalogue
from flows.types import (
    Choice,
    Effect,
    EffectKind,
    InputKind,
    Reply,
    StepResult,
    UserInput,
    Voice,
)

SNAPSHOT_VERSION = 1
MAX_STORY_CHARS = 20_000
MAX_CANDIDATES = 5
REPORT_FLOW = "report"
STATUS_FLOW = "status"
RECEIPT_FOUND = "receipt_found"
RECEIPT_NOT_FOUND = "receipt_not_found"

CONDITIONS: set[str] = set()
EFFECTS: set[str] = set()

TurnMethod = Callable[["Turn", EventData], Any]


def condition(method: TurnMethod) -> TurnMethod:
    CONDITIONS.add(method.__name__)
    return method


def effect(method: TurnMethod) -> TurnMethod:
    EFFECTS.add(method.__name__)
    return method


_CONTAINERS = (dict, list)


def new_snapshot(flow: str, state: str, locale: str) -> dict[str, Any]:
    return {
        "v": SNAPSHOT_VERSION,
        "flow": flow,
        "state": state,
        "locale": locale,
        "answers": {},
        "history": [],
        "story": [],
        "evidence": 0,
        "needs": [],
        "danger": False,
        "editing": False,
        "candidates": [],
        "phone": None,
        "case": None,
    }


def step(flows: Flows, snapshot: dict[str, Any] | None, user_input: UserInput) -> StepResult:
    """One turn of the conversation. The snapshot given is not modified."""
    fresh = snapshot is None
    if snapshot is None:
        start = flows.specs[REPORT_FLOW].start
        snap = new_snapshot(REPORT_FLOW, start, flows.default_locale)
    else:
        # One level deep is a full copy: every nested value is a list or dict of plain values.
        snap = {
            key: value.copy() if type(value) in _CONTAINERS else value
            for key, value in snapshot.items()
        }
    turn = Turn(flows, snap, user_input, fresh=fresh)
    voice_before = turn.voice
    turn.run()
    return StepResult(
        snapshot=None if turn.ended else turn.snap,
        replies=turn.replies,
        effects=turn.effects,
        locale=turn.locale,
        # Submitting clears the answers; the receipt is still said in the wording used until then.
        voice=turn.voice if turn.voice is not Voice.other else voice_before,
    )


class Turn:
    """The model of one turn. Conditions read it; route effects only write to it."""

    def __init__(
        self, flows: Flows, snap: dict[str, Any], user_input: UserInput, *, fresh: bool
    ) -> None:
        self.flows = flows
        self.snap = snap
        self.input = user_input
        self.fresh = fresh
        self.state: str = snap["state"]  # written by the machine
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []
        self.ended = False
        self.route: Route | None = None

    # -- what the turn is about -------------------------------------------------------------

    @property
    def flow(self) -> str:
        return str(self.snap["flow"])

    @property
    def step_spec(self) -> Step:
        return self.flows.specs[self.flow].steps[self.snap["state"]]

    @property
    def locale(self) -> str:
        return str(self.snap["locale"])

    @property
    def answers(self) -> dict[str, Any]:
        answers: dict[str, Any] = self.snap["answers"]
        return answers

    @property
    def voice(self) -> Voice:
        """Questions to the person it happened to say "you"; a child gets the child's wording."""
        if self.answers.get("reporter") != "self":
            return Voice.other
        return Voice.child if self.answers.get("victim_age") == "child" else Voice.self

    def say(self, key: str, choices: tuple[Choice, ...] = (), **params: Any) -> None:
        self.replies.append(Reply(key, params, choices))

    # -- the turn -----------------------------------------------------------------------------

    def run(self) -> None:
        user_input = self.input
        if user_input.kind is InputKind.text:
            command = command_of(user_input.text)
            if command is not None:
                self.command(command)
                return
            if has_danger_phrase(user_input.text):
                self.snap["danger"] = True
                self.say("danger.detected", contacts=self.contacts())
        if self.fresh and not self._is_current_choice():
            self.prompt()
            return
        self.answer()

    def _is_current_choice(self) -> bool:
        return self.input.kind is InputKind.choice and self.input.choice.startswith(
            self.snap["state"] + ":"
        )

    def contacts(self) -> str:
        return self.flows.contact_lines[self.locale]

    def answer(self) -> None:
        user_input, spec = self.input, self.step_spec
        if user_input.kind is InputKind.event:
            self.on_event()
            return
        if user_input.kind is InputKind.unsupported:
            self.say("unsupported")
            self.prompt(again=True)
            return
        if user_input.kind is InputKind.media and spec.kind is not StepKind.media:
            self.say("media.not_now")
            self.prompt(again=True)
            return
        if user_input.kind is InputKind.choice and not self._is_current_choice():
            self.say("stale_choice")
            self.prompt(again=True)
            return
        handler = {
            StepKind.choice: self.on_choice,
            StepKind.final: self.on_choice,
            StepKind.text: self.on_text,
            StepKind.region: self.on_region,
            StepKind.toggles: self.on_toggles,
            StepKind.phone: self.on_phone,
            StepKind.media: self.on_media,
            StepKind.lookup: self.on_lookup,
            StepKind.message: self.on_message,
            StepKind.edit: self.on_edit,
        }[spec.kind]
        handler()

    def option(self) -> str | None:
        """The static option the reporter meant: a button of this step, or a typed label or id."""
        user_input, spec = self.input, self.step_spec
        if user_input.kind is InputKind.choice:
            option = user_input.choice.split(":", 1)[1]
            return option if option in spec.options else None
        if user_input.kind is not InputKind.text:
            return None
        words = self.flows.option_words[(self.flow, self.snap["state"])]
        return words.get(label_form(user_input.text)) if user_input.text else None

    def not_understood(self) -> None:
        # A greeting at the welcome is no mistake to apologise for.
        if not (self.step_spec.quiet and self.input.kind is InputKind.text):
            self.say("not_understood")
        self.prompt(again=True)

    # -- handlers per kind of step --------------------------------------------------------------

    def on_choice(self) -> None:
        option = self.option()
        if option is None:
            self.not_understood()
            return
        self.choose(option)

    def typed_content(self) -> str | None:
        """Text typed as content for this step; ``None`` when the message was one of the step's
        options (then taken) or is no usable text (then answered)."""
        option = self.option()
        if option is not None:
            self.choose(option)
            return None
        if self.input.kind is not InputKind.text or not self.input.text.strip():
            self.not_understood()
            return None
        return self.input.text

    def on_text(self) -> None:
        text = self.typed_content()
        if text is not None:
            self.add_to_story(text)
            self.say("story.more", self.choices())

    def add_to_story(self, text: str) -> None:
        story: list[str] = self.snap["story"]
        room = MAX_STORY_CHARS - sum(len(part) for part in story)
        if room <= 0:
            self.say("story.full")
            return
        story.append(text.strip()[:room])
        if len(text.strip()) > room:
            self.say("story.full")

    def on_region(self) -> None:
        state = self.snap["state"]
        if self.input.kind is InputKind.choice:
            code = self.input.choice.split(":", 1)[1]
            if code in self.snap["candidates"]:
                self.set_region(code)
                return
        option = self.option()
        if option is not None:
            self.snap["candidates"] = []
            self.choose(option)
            return
        if self.input.kind is not InputKind.text:
            self.not_understood()
            return
        regions = self.flows.regions
        if state == "province":
            found = regions.find_province(self.input.text, limit=MAX_CANDIDATES)
        else:
            province = self.answers.get("province")
            found = (
                regions.find_regency(str(province), self.input.text, limit=MAX_CANDIDATES)
                if province
                else []
            )
        if len(found) == 1:
            self.set_region(found[0].code)
        elif found:
            self.snap["candidates"] = [region.code for region in found]
            self.say("region.pick", self.choices())
        else:
            self.snap["candidates"] = []
            self.say("region.not_found")
            self.prompt(again=True)

    def set_region(self, code: str) -> None:
        state = self.snap["state"]
        if state == "province" and self.answers.get("province") != code:
            self.answers.pop("regency", None)
        self.snap["candidates"] = []
        self.answers[state] = code
        self.fire(ADVANCE)

    def on_toggles(self) -> None:
        state = self.snap["state"]
        option = self.option()
        if option is None:
            self.not_understood()
            return
        if option == "done":
            self.choose(option)
            return
        chosen: list[str] = self.snap["needs"] if state == "needs" else []
        if option in chosen:
            chosen.remove(option)
        else:
            chosen.append(option)
        self.prompt(again=True)

    def on_phone(self) -> None:
        option = self.option()
        if option is not None:
            self.choose(option)
            return
        phone = parse_phone(self.input.text) if self.input.kind is InputKind.text else None
        if phone is None:
            self.say("phone.invalid")
            self.prompt(again=True)
            return
        self.snap["phone"] = phone
        self.answers[self.snap["state"]] = "given"
        self.fire(ADVANCE)

    def on_media(self) -> None:
        if self.input.kind is InputKind.media:
            self.snap["evidence"] += 1
            self.effects.append(
                Effect(
                    EffectKind.store_evidence, {"kind": self.input.media_kind, **self.input.data}
                )
            )
            self.say("evidence.received", self.choices(), count=self.snap["evidence"])
            return
        option = self.option()
        if option is not None:
            self.choose(option)
            return
        if self.input.kind is InputKind.text and self.input.text.strip():
            self.add_to_story(self.input.text)
            self.say("evidence.added_to_story", self.choices())
            return
        self.not_understood()

    def on_lookup(self) -> None:
        text = self.typed_content()
        if text is not None:
            self.effects.append(Effect(EffectKind.lookup_receipt, {"text": text}))

    def on_event(self) -> None:
        event = self.input.event
        if event == RECEIPT_FOUND and self.step_spec.kind is StepKind.lookup:
            data = self.input.data
            self.snap["case"] = {"report": data["report"], "status": data["status"]}
            self.fire(ADVANCE, messages=data.get("messages", []), help=data.get("help", []))
        elif event == RECEIPT_NOT_FOUND and self.step_spec.kind is StepKind.lookup:
            self.say("receipt.not_found")
            self.prompt(again=True)
        else:
            self.prompt(again=True)

    def on_message(self) -> None:
        text = self.typed_content()
        if text is None:
            return
        case = self.snap.get("case")
        if not case:
            self.not_understood()
            return
        self.effects.append(
            Effect(
                EffectKind.reply_to_officers,
                {"report": case["report"], "text": text.strip()[:MAX_STORY_CHARS]},
            )
        )
        self.say("reply.sent")
        self.fire(ADVANCE)

    def on_edit(self) -> None:
        if self.input.kind is InputKind.choice:
            target = self.input.choice.split(":", 1)[1]
            if target in self.editable_answered():
                self.snap["editing"] = True
                if target == "story":
                    self.snap["story"] = []
                self.move_to(target)
                return
        self.on_choice()

    # -- moving -----------------------------------------------------------------------------------

    def choose(self, option: str) -> None:
        self.answers[self.snap["state"]] = option
        spec = self.step_spec
        self.fire(option_trigger(option) if option in spec.on else ADVANCE)

    def fire(self, trigger: str, **params: Any) -> None:
        source = self.snap["state"]
        machine = self.flows.machines[self.flow]
        # Recorded before the route's effects run, so that an effect may clear it (submit does).
        self.snap["history"].append(f"{self.flow}.{source}")
        self.route = None
        machine.add_model(self, initial=source)
        try:
            moved = machine.events[trigger].trigger(self)
        finally:
            machine.remove_model(self)
        route = self.route
        if not moved or route is None:
            # The loader guarantees an unconditional last route; this is a definition bug.
            raise RuntimeError(f"no route from {self.flow}.{source} on {trigger}")
        self.follow(source, route, **params)

    def follow(self, source: str, route: Route, **params: Any) -> None:
        target = route.to
        if target == END:
            self.end(route.say)
            return
        history: list[str] = self.snap["history"]
        if target == source and history and history[-1] == f"{self.flow}.{source}":
            history.pop()
        if "." in target:
            flow, state = target.split(".", 1)
            self.snap["flow"], self.snap["state"] = flow, state
        else:
            self.snap["state"] = target
        if self.snap["editing"] and target in self.answers and target != source:
            self.snap["editing"] = False
            self.snap["state"] = "review"
        self.prompt(**params)

    def move_to(self, state: str) -> None:
        self.snap["history"].append(f"{self.flow}.{self.snap['state']}")
        self.snap["state"] = state
        self.prompt()

    def end(self, say: str | None) -> None:
        """End this flow: back to the flow it was entered from, or the conversation is over."""
        if say:
            self.say(say)
        history: list[str] = self.snap["history"]
        outer = [i for i, entry in enumerate(history) if not entry.startswith(self.flow + ".")]
        if self.flow != REPORT_FLOW and outer:
            flow, state = history[outer[-1]].split(".", 1)
            del history[outer[-1] :]
            self.snap["flow"], self.snap["state"] = flow, state
            self.prompt(again=True)
            return
        self.ended = True

    # -- showing ----------------------------------------------------------------------------------

    def prompt(self, *, again: bool = False, **params: Any) -> None:
        spec, state = self.step_spec, self.snap["state"]
        key = (spec.reprompt if again else None) or spec.prompt or state
        if spec.kind is StepKind.edit or state == "review":
            params["summary"] = self.summary()
        if spec.kind is StepKind.media:
            params["count"] = self.snap["evidence"]
        case = self.snap.get("case")
        if case:
            params["status"] = self.flows.catalogue.text(
                f"case.status.{case['status']}", self.locale
            )
            messages, help_ = params.pop("messages", None), params.pop("help", None)
            shown = [
                format_help(self.flows.catalogue, self.locale, help_) if help_ else "",
                self.format_messages(messages) if messages else "",
            ]
            params["messages"] = "\n".join(part for part in shown if part)
        self.say(key, self.choices(), contacts=self.contacts(), **params)

    def choices(self) -> tuple[Choice, ...]:
        spec, state = self.step_spec, self.snap["state"]
        if spec.kind not in _DYNAMIC_CHOICES:
            return _static_choices(state, tuple(spec.options))
        catalogue, locale = self.flows.catalogue, self.locale
        buttons: list[Choice] = []
        if spec.kind is StepKind.region:
            for code in self.snap["candidates"]:
                region = self.flows.regions.get(code)
                if region is not None:
                    buttons.append(Choice(f"{state}:{code}", region.name, raw=True))
        if spec.kind is StepKind.edit:
            for target in self.editable_answered():
                buttons.append(Choice(f"{state}:{target}", f"title.{target}"))
        for option in spec.options:
            key = f"{state}.{option}"
            if spec.kind is StepKind.toggles and option in self.snap["needs"]:
                buttons.append(
                    Choice(f"{state}:{option}", "✓ " + catalogue.text(key, locale), True)
                )
            else:
                buttons.append(Choice(f"{state}:{option}", key))
        return tuple(buttons)

    def editable_answered(self) -> list[str]:
        steps = self.flows.specs[REPORT_FLOW].steps
        return [name for name, spec in steps.items() if spec.editable and name in self.answers]

    def label(self, step_name: str, value: Any) -> str:
        catalogue, locale = self.flows.catalogue, self.locale
        if step_name in ("province", "regency") and value != "skip":
            region: Region | None = self.flows.regions.get(str(value))
            return region.name if region else str(value)
        if step_name == "story":
            parts = self.snap["story"]
            if not parts:
                return catalogue.text("summary.nothing", locale)
            chars = sum(len(part) for part in parts)
            return catalogue.text("summary.story", locale).format(parts=len(parts), chars=chars)
        if step_name == "needs":
            chosen = [catalogue.text(f"needs.{need}", locale) for need in self.snap["needs"]]
            return ", ".join(chosen) or catalogue.text("summary.nothing", locale)
        key = f"{step_name}.{value}"
        return catalogue.text(key, locale) if catalogue.has(key, locale) else str(value)

    def summary(self) -> str:
        catalogue, locale = self.flows.catalogue, self.locale
        lines = []
        for name in self.editable_answered():
            title = catalogue.text(f"title.{name}", locale)
            lines.append(f"• {title}: {self.label(name, self.answers[name])}")
        if self.snap["evidence"]:
            title = catalogue.text("title.evidence", locale)
            lines.append(f"• {title}: {self.snap['evidence']}")
        return "\n".join(lines)

    def format_messages(self, messages: list[dict[str, Any]]) -> str:
        catalogue, locale = self.flows.catalogue, self.locale
        lines = [catalogue.text("case.messages", locale)]
        for message in messages:
            who = catalogue.text(f"case.from.{message.get('from', 'officer')}", locale)
            lines.append(f"{who}: {message.get('text', '')}")
        return "\n".join(lines)

    # -- global words -------------------------------------------------------------------------

    def command(self, command: Command) -> None:
        match command:
            case Command.help:
                self.say("help")
                state_help = f"{self.snap['state']}.help"
                if self.flows.catalogue.has(state_help, self.locale):
                    self.say(state_help)
                self.prompt(again=True)
            case Command.emergency:
                self.say("emergency", contacts=self.contacts())
                self.prompt(again=True)
            case Command.exit:
                self.effects.append(Effect(EffectKind.forget_draft))
                self.effects.append(Effect(EffectKind.clear_chat))
                self.say("exit.done")
                self.ended = True  # from any flow: nothing of the conversation is kept
            case Command.back:
                self.go_back()
            case Command.restart | Command.start:
                if not self.fresh:
                    self.effects.append(Effect(EffectKind.forget_draft))
                danger, locale = self.snap["danger"], self.locale
                self.snap.clear()
                start = self.flows.specs[REPORT_FLOW].start
                self.snap.update(new_snapshot(REPORT_FLOW, start, locale))
                self.snap["danger"] = danger
                self.prompt()
            case Command.language:
                self.snap["locale"] = "en" if self.locale == "id" else "id"
                self.prompt(again=True)
            case Command.status:
                start = self.flows.specs[STATUS_FLOW].start
                if self.flow == STATUS_FLOW and self.snap["state"] == start:
                    self.prompt(again=True)
                    return
                # From a case already shown too: a fresh look-up, so newer messages are read.
                if self.flow != STATUS_FLOW:
                    self.snap["history"].append(f"{self.flow}.{self.snap['state']}")
                self.snap["flow"] = STATUS_FLOW
                self.snap["state"] = start
                self.snap["case"] = None
                self.prompt()

    def go_back(self) -> None:
        history: list[str] = self.snap["history"]
        if not history:
            self.say("back.first")
            self.prompt(again=True)
            return
        flow, state = history.pop().split(".", 1)
        self.snap["flow"], self.snap["state"] = flow, state
        self.snap["candidates"] = []
        self.snap["editing"] = False
        if flow == REPORT_FLOW and state in self.answers:
            self.say("back.note", answer=self.label(state, self.answers[state]))
        self.prompt(again=True)

    # -- conditions (read only) -----------------------------------------------------------------

    @condition
    def perpetrator_is_close(self, _event: EventData) -> bool:
        return self.answers.get("perpetrator") in CLOSE_PERPETRATORS

    @condition
    def has_province(self, _event: EventData) -> bool:
        return self.answers.get("province") not in (None, "skip")

    # -- route effects (write to the model only) -------------------------------------------------

    def take_route(self, event: EventData) -> None:
        transition = event.transition
        assert isinstance(transition, RouteTransition)
        self.route = transition.route

    @effect
    def mark_danger(self, _event: EventData) -> None:
        self.snap["danger"] = True

    @effect
    def show_emergency(self, _event: EventData) -> None:
        self.say("emergency", contacts=self.contacts())

    @effect
    def switch_language(self, _event: EventData) -> None:
        self.snap["locale"] = "en" if self.locale == "id" else "id"

    @effect
    def forget_draft(self, _event: EventData) -> None:
        self.effects.append(Effect(EffectKind.forget_draft))

    @effect
    def submit_report(self, _event: EventData) -> None:
        answers = self.answers
        fields = report_fields(answers)
        fields["needs"] = list(self.snap["needs"])
        self.effects.append(
            Effect(
                EffectKind.submit_report,
                {
                    "fields": fields,
                    "priority": priority_of(answers, danger=self.snap["danger"]),
                    "danger": self.snap["danger"],
                    "story": "\n\n".join(self.snap["story"]),
                    "phone": self.snap["phone"] if answers.get("contact") == "phone" else None,
                    "locale": self.locale,
                },
            )
        )
        # What was told now lives only in the report; the conversation keeps its place and language.
        for name in ("answers", "story", "needs", "history", "candidates"):
            self.snap[name] = type(self.snap[name])()
        self.snap.update(evidence=0, danger=False, phone=None, editing=False)

    @effect
    def clear_case(self, _event: EventData) -> None:
        self.snap["case"] = None


_DYNAMIC_CHOICES = frozenset({StepKind.region, StepKind.edit, StepKind.toggles})


@functools.cache
def _static_choices(state: str, options: tuple[str, ...]) -> tuple[Choice, ...]:
    return tuple(Choice(f"{state}:{option}", f"{state}.{option}") for option in options)


def format_help(catalogue: Catalogue, locale: str, arranged: list[dict[str, str]]) -> str:
    """The help arranged for the reporter, one line per service and its state in plain words
    ("Konseling: diterima"); never who gives it."""
    lines = [catalogue.text("case.help", locale)]
    for item in arranged:
        service = catalogue.text(f"help.service.{item['service']}", locale)
        state = catalogue.text(f"help.status.{item['status']}", locale)
        lines.append(f"• {service}: {state}")
    return "\n".join(lines)
