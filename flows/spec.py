"""The schema of a flow file (``flows/definitions/*.yaml``), checked with pydantic at start-up.

A flow is a set of steps. A step asks something (``kind`` says how it is answered), offers options
(each a button with id ``STEP:OPTION``; its label is the text key ``STEP.OPTION``), and says where
to go next: per option in ``on``, else by ``next``, a list of routes tried in order whose ``if``
names a condition. A route target is a step of this flow, ``flow.step`` of another flow, or ``end``.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

END = "end"


class StepKind(StrEnum):
    choice = "choice"  # one of the options
    text = "text"  # free text over several messages, closed by an option (story)
    region = "region"  # a typed place name, matched against the region list
    toggles = "toggles"  # several options switched on and off, closed by ``done``
    phone = "phone"  # a typed Indonesian phone number
    media = "media"  # photos, voice notes, documents
    lookup = "lookup"  # typed text handed to the inbox (a receipt), answered by an event
    message = "message"  # typed text handed to the inbox (a reply to officers)
    edit = "edit"  # pick an earlier answer to change (the answered editable steps are offered)
    final = "final"  # the conversation's work is done; options lead on


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    to: str
    if_: str | None = Field(default=None, alias="if")
    effects: list[str] = Field(default_factory=list)
    say: str | None = None  # a text key said when the route ends the conversation


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: StepKind = StepKind.choice
    prompt: str | None = None
    options: list[str] = Field(default_factory=list)
    on: dict[str, Route] = Field(default_factory=dict)
    next: list[Route] = Field(default_factory=list)
    editable: bool = False
    reprompt: str | None = None  # text key when the step is shown again (default: the prompt)
    quiet: bool = False  # text that is no option re-shows the step without "not understood"

    @field_validator("on", mode="before")
    @classmethod
    def _short_routes(cls, value: object) -> object:
        # `on: {start: danger}` is short for `on: {start: {to: danger}}`.
        if isinstance(value, dict):
            return {
                key: {"to": item} if isinstance(item, str) else item for key, item in value.items()
            }
        return value

    @field_validator("next", mode="before")
    @classmethod
    def _short_next(cls, value: object) -> object:
        if isinstance(value, str):
            return [{"to": value}]
        return value


class FlowSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    flow: str
    version: int = Field(ge=1)
    start: str
    steps: dict[str, Step]
