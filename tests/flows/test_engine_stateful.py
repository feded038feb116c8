"""Random conversations: whatever is sent, the engine answers, and its promises hold."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from flows import engine
from flows.loader import load_flows
from flows.safety import COMMAND_WORDS
from flows.types import EffectKind, InputKind, StepResult, UserInput

FLOWS = load_flows()

texts = st.one_of(
    st.text(max_size=60),
    st.just(""),
    st.just("a" * 5_000),
    st.just("😢🙏🏽👨‍👩‍👧"),
    st.just("مرحبا، أنا بحاجة إلى مساعدة"),  # right-to-left
    st.just("lampung"),
    st.just("kota semarang"),
    st.just("0812-3456-7890"),
    st.just("K7QM-3XHP-9TRA-W"),
    st.just("tolong aku"),
)


AVOIDED_ENDINGS = (":emergency", ":language", ":status", ":discard", ":edit")
AVOIDED_STARTS = ("consent:decline", "phone:", "contact:phone")


def forward_choice(offered: list[str]) -> str | None:
    """The button that moves a report forward: done/skip where offered, else the first option."""
    useful = [
        choice
        for choice in offered
        if not choice.endswith(AVOIDED_ENDINGS) and not choice.startswith(AVOIDED_STARTS)
    ]
    closing = [choice for choice in useful if choice.endswith((":done", ":skip"))]
    candidates = closing or useful
    return candidates[0] if candidates else None


class Conversation(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.snapshot: dict[str, Any] | None = None
        self.last: StepResult | None = None
        self.submitted = 0

    def send(self, user_input: UserInput) -> StepResult:
        before = None if self.snapshot is None else self.snapshot["state"]
        result = engine.step(FLOWS, self.snapshot, user_input)
        self.snapshot = result.snapshot
        self.last = result
        kinds = [effect.kind for effect in result.effects]
        after = None if result.snapshot is None else result.snapshot["state"]
        # A report is submitted exactly when the review is confirmed, and exactly once.
        completed = before == "review" and after == "submitted"
        assert kinds.count(EffectKind.submit_report) == (1 if completed else 0)
        self.submitted += kinds.count(EffectKind.submit_report)
        assert result.replies or EffectKind.lookup_receipt in kinds
        for reply in result.replies:
            FLOWS.catalogue.render(reply, result.locale, voice=result.voice)  # never raises
        return result

    def offered(self) -> list[str]:
        if self.last is None:
            return []
        return [choice.id for reply in self.last.replies for choice in reply.choices]

    @precondition(lambda self: bool(self.offered()))
    @rule(data=st.data())
    def press_an_offered_button(self, data: st.DataObject) -> None:
        self.send(UserInput.pressed(data.draw(st.sampled_from(self.offered()))))

    @rule(text=texts)
    def type_text(self, text: str) -> None:
        self.send(UserInput.typed(text))

    @rule(word=st.sampled_from([*sorted(COMMAND_WORDS), "/start", "/help@LaporAmanBot"]))
    def say_a_global_word(self, word: str) -> None:
        result = self.send(UserInput.typed(word))
        if COMMAND_WORDS.get(word.strip("/")) is not None and word in ("darurat", "sos"):
            assert result.replies[0].key == "emergency"

    @rule(word=st.sampled_from(["darurat", "emergency", "sos", "/sos"]))
    def ask_for_emergency(self, word: str) -> None:
        result = self.send(UserInput.typed(word))
        contacts = result.replies[0].params.get("contacts", "")
        assert "112" in contacts
        assert "129" in contacts

    @rule(word=st.sampled_from(["hapus", "keluar", "exit", "/exit"]))
    def quick_exit(self, word: str) -> None:
        result = self.send(UserInput.typed(word))
        assert result.snapshot is None
        assert EffectKind.forget_draft in [effect.kind for effect in result.effects]

    @rule(choice=st.text(max_size=30))
    def press_a_forged_button(self, choice: str) -> None:
        self.send(UserInput.pressed(choice))

    @rule(kind=st.sampled_from([InputKind.media, InputKind.unsupported]))
    def send_a_file_or_sticker(self, kind: InputKind) -> None:
        self.send(UserInput(kind, media_kind="photo"))

    @rule(found=st.booleans())
    def receipt_answer_arrives(self, found: bool) -> None:
        event = engine.RECEIPT_FOUND if found else engine.RECEIPT_NOT_FOUND
        data = {"report": "r", "status": "received", "messages": []} if found else {}
        self.send(UserInput(InputKind.event, event=event, data=data))

    @invariant()
    def snapshot_is_consistent(self) -> None:
        if self.snapshot is None:
            return
        flow = FLOWS.specs[self.snapshot["flow"]]
        assert self.snapshot["state"] in flow.steps
        story_length = sum(len(part) for part in self.snapshot["story"])
        assert story_length <= engine.MAX_STORY_CHARS


class DrivenToTheEnd(Conversation):
    """Mostly presses buttons, so that whole reports get submitted too."""

    @rule()
    def press_forward(self) -> None:
        choice = forward_choice(self.offered())
        self.send(UserInput.pressed(choice) if choice else UserInput.typed("halo"))


TestConversation = Conversation.TestCase
TestConversation.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestDrivenToTheEnd = DrivenToTheEnd.TestCase
TestDrivenToTheEnd.settings = settings(
    max_examples=60,
    stateful_step_count=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_pressing_through_submits_exactly_one_report() -> None:
    snapshot: dict[str, Any] | None = None
    result = engine.step(FLOWS, snapshot, UserInput.typed("halo"))
    submitted = 0
    for _ in range(60):
        offered = [choice.id for reply in result.replies for choice in reply.choices]
        choice = forward_choice(offered)
        if choice is None or (result.snapshot and result.snapshot["state"] == "submitted"):
            break
        result = engine.step(FLOWS, result.snapshot, UserInput.pressed(choice))
        submitted += [e.kind for e in result.effects].count(EffectKind.submit_report)
    assert submitted == 1
    assert result.snapshot is not None
    assert result.snapshot["state"] == "submitted"
