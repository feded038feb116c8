"""The engine on its own: pure turns, no database."""

from __future__ import annotations

from typing import Any

import pytest

from flows import engine
from flows.machine import Flows
from flows.report import parse_phone, priority_of
from flows.safety import Command, command_of, has_danger_phrase
from flows.types import EffectKind, InputKind, StepResult, UserInput, Voice


class Chat:
    """A conversation driven through the engine alone."""

    def __init__(self, flows: Flows) -> None:
        self.flows = flows
        self.snapshot: dict[str, Any] | None = None
        self.last: StepResult | None = None

    def send(self, user_input: UserInput) -> StepResult:
        self.last = engine.step(self.flows, self.snapshot, user_input)
        self.snapshot = self.last.snapshot
        return self.last

    def type(self, text: str) -> StepResult:
        return self.send(UserInput.typed(text))

    def press(self, choice: str) -> StepResult:
        return self.send(UserInput.pressed(choice))

    @property
    def state(self) -> str | None:
        return None if self.snapshot is None else str(self.snapshot["state"])

    def reply_keys(self) -> list[str]:
        assert self.last is not None
        return [reply.key for reply in self.last.replies]


def to_story(chat: Chat) -> None:
    chat.type("halo")
    for choice in (
        "welcome:start",
        "danger:no",
        "consent:agree",
        "reporter:self",
        "victim_age:adult",
        "victim_gender:female",
        "category:physical",
        "ongoing:no",
        "when:this_month",
        "province:skip",
        "place:home",
        "perpetrator:partner",
        "lives_with:no",
    ):
        chat.press(choice)
    assert chat.state == "story"


@pytest.fixture
def chat(flows: Flows) -> Chat:
    return Chat(flows)


def test_the_first_message_is_answered_with_the_welcome(chat: Chat) -> None:
    result = chat.type("halo")
    assert chat.reply_keys() == ["welcome"]
    assert [choice.id for choice in result.replies[0].choices] == [
        "welcome:start",
        "welcome:emergency",
        "welcome:status",
        "welcome:language",
    ]


def test_the_snapshot_given_is_not_changed(chat: Chat, flows: Flows) -> None:
    chat.type("halo")
    before = chat.snapshot
    assert before is not None
    frozen = repr(before)
    engine.step(flows, before, UserInput.pressed("welcome:start"))
    assert repr(before) == frozen


@pytest.mark.parametrize("word", ["darurat", "EMERGENCY", "/sos", "Darurat!", "/sos@LaporAmanBot"])
def test_emergency_answers_with_contacts_in_any_step(chat: Chat, word: str) -> None:
    to_story(chat)
    result = chat.type(word)
    assert result.replies[0].key == "emergency"
    assert "112" in result.replies[0].params["contacts"]
    assert "129" in result.replies[0].params["contacts"]
    assert chat.state == "story"  # and the flow goes on where it was


@pytest.mark.parametrize("word", ["hapus", "keluar", "exit", "/exit", "Keluar."])
def test_quick_exit_forgets_the_draft(chat: Chat, word: str) -> None:
    to_story(chat)
    chat.type("Ini cerita rahasia.")
    result = chat.type(word)
    assert result.snapshot is None
    kinds = [effect.kind for effect in result.effects]
    assert EffectKind.forget_draft in kinds
    assert EffectKind.clear_chat in kinds
    assert chat.reply_keys() == ["exit.done"]


def test_back_returns_to_the_previous_question_showing_the_answer(chat: Chat, flows: Flows) -> None:
    to_story(chat)
    result = chat.type("kembali")
    assert chat.state == "lives_with"
    assert result.replies[0].key == "back.note"
    assert result.replies[0].params["answer"] == "Tidak"


def test_back_at_the_first_question_says_so(chat: Chat) -> None:
    chat.type("halo")
    chat.type("back")
    assert chat.reply_keys() == ["back.first", "welcome.again"]


def test_typed_labels_count_in_either_language(chat: Chat) -> None:
    chat.type("halo")
    chat.type("START A REPORT")
    assert chat.state == "danger"
    chat.type("tidak sekarang")
    assert chat.state == "consent"
    chat.type("I agree, go on")
    assert chat.state == "reporter"


def test_a_button_from_an_earlier_question_is_not_taken_as_an_answer(chat: Chat) -> None:
    to_story(chat)
    chat.press("category:sexual")
    assert chat.state == "story"
    assert chat.reply_keys()[0] == "stale_choice"
    assert chat.snapshot is not None
    assert chat.snapshot["answers"]["category"] == "physical"


def test_danger_phrase_raises_priority_without_derailing(chat: Chat) -> None:
    to_story(chat)
    result = chat.type("Tolong aku, dia ada di sini.")
    assert result.replies[0].key == "danger.detected"
    assert chat.state == "story"
    assert chat.snapshot is not None
    assert chat.snapshot["danger"] is True


def test_danger_yes_shows_contacts_at_once(chat: Chat) -> None:
    chat.type("halo")
    chat.press("welcome:start")
    result = chat.press("danger:yes")
    assert [reply.key for reply in result.replies] == ["emergency", "consent"]
    assert chat.snapshot is not None
    assert chat.snapshot["danger"] is True


def test_a_child_telling_about_themself_gets_child_wording(chat: Chat) -> None:
    chat.type("halo")
    for choice in ("welcome:start", "danger:no"):
        chat.press(choice)
    voices = []
    for choice in ("consent:agree", "reporter:self", "victim_age:child"):
        chat.press(choice)
        assert chat.last is not None
        voices.append(chat.last.voice)
    # Asked about someone, then "how old are you?", then in a child's words.
    assert voices == [Voice.other, Voice.self, Voice.child]


def test_someone_telling_about_another_person_is_asked_about_them(chat: Chat) -> None:
    chat.type("halo")
    for choice in ("welcome:start", "danger:no", "consent:agree", "reporter:witness"):
        chat.press(choice)
    chat.press("victim_age:child")
    assert chat.last is not None
    assert chat.last.voice is Voice.other


def test_stickers_and_files_in_the_wrong_place_get_a_kind_answer(chat: Chat) -> None:
    chat.type("halo")
    chat.send(UserInput(InputKind.unsupported))
    assert chat.reply_keys() == ["unsupported", "welcome.again"]
    chat.send(UserInput(InputKind.media, media_kind="photo"))
    assert chat.reply_keys() == ["media.not_now", "welcome.again"]


def test_a_very_long_story_is_kept_up_to_the_limit(chat: Chat) -> None:
    to_story(chat)
    chat.type("a" * 5_000)
    for _ in range(4):
        chat.type("b" * 5_000)
    assert "story.full" in chat.reply_keys()
    assert chat.snapshot is not None
    assert sum(len(part) for part in chat.snapshot["story"]) == engine.MAX_STORY_CHARS


def test_submitting_yields_one_report_and_forgets_the_answers(chat: Chat) -> None:
    to_story(chat)
    chat.type("Saya didorong sampai jatuh.")
    for choice in ("story:done", "evidence:skip", "needs:legal", "needs:done"):
        chat.press(choice)
    chat.press("contact:anonymous")
    result = chat.press("review:submit")
    submitted = [effect for effect in result.effects if effect.kind is EffectKind.submit_report]
    assert len(submitted) == 1
    data = submitted[0].data
    assert data["fields"]["category"] == "physical"
    assert data["fields"]["province"] is None
    assert data["fields"]["lives_with"] == "no"
    assert data["fields"]["needs"] == ["legal"]
    assert data["story"] == "Saya didorong sampai jatuh."
    assert data["priority"] == "normal"
    assert chat.snapshot is not None
    assert chat.snapshot["answers"] == {}
    assert chat.snapshot["story"] == []
    assert chat.state == "submitted"
    chat.type("kembali")
    assert chat.state == "submitted"  # nothing to go back to once it is sent


def test_language_switches_and_stays(chat: Chat) -> None:
    chat.type("halo")
    result = chat.type("bahasa")
    assert result.locale == "en"
    result = chat.press("welcome:start")
    assert result.locale == "en"


def test_restart_starts_over_and_forgets(chat: Chat) -> None:
    to_story(chat)
    result = chat.type("ulang")
    assert chat.state == "welcome"
    assert EffectKind.forget_draft in [effect.kind for effect in result.effects]
    assert chat.snapshot is not None
    assert chat.snapshot["answers"] == {}


def test_status_mid_report_keeps_the_draft_and_cancel_returns(chat: Chat) -> None:
    to_story(chat)
    chat.type("status")
    assert chat.snapshot is not None
    assert chat.snapshot["flow"] == "status"
    chat.press("receipt:cancel")
    assert chat.snapshot["flow"] == "report"
    assert chat.state == "story"
    assert chat.snapshot["answers"]["perpetrator"] == "partner"


def test_a_receipt_look_up_is_asked_of_the_inbox_and_its_answer_shown(chat: Chat) -> None:
    chat.type("status")
    result = chat.type("k7qm 3xhp 9tra w")
    assert [effect.kind for effect in result.effects] == [EffectKind.lookup_receipt]
    found = UserInput(
        InputKind.event,
        event=engine.RECEIPT_FOUND,
        data={
            "report": "r1",
            "status": "referred",
            "messages": [{"from": "officer", "text": "Hai"}],
        },
    )
    result = chat.send(found)
    assert chat.state == "case"
    assert "Hai" in result.replies[0].params["messages"]


@pytest.mark.parametrize(
    ("answers", "danger", "expected"),
    [
        ({}, True, "critical"),
        ({"victim_age": "child", "ongoing": "yes", "category": "sexual"}, False, "critical"),
        ({"victim_age": "child", "ongoing": "no", "category": "sexual"}, False, "high"),
        ({"victim_age": "adult", "ongoing": "yes"}, False, "high"),
        ({"perpetrator": "family", "lives_with": "yes"}, False, "high"),
        ({"perpetrator": "stranger", "lives_with": "yes"}, False, "normal"),
        ({"victim_age": "adult", "ongoing": "no"}, False, "normal"),
    ],
)
def test_priority(answers: dict[str, str], danger: bool, expected: str) -> None:
    assert priority_of(answers, danger=danger) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("0812-3456-7890", "+6281234567890"),
        ("+62 812 3456 7890", "+6281234567890"),
        ("62812.3456.789", "+628123456789"),
        ("(021) 5551234", "+62215551234"),
        ("12345", None),
        ("0812", None),
        ("halo", None),
    ],
)
def test_phone_numbers_are_read_in_every_indonesian_form(typed: str, expected: str | None) -> None:
    assert parse_phone(typed) == expected


def test_global_words_are_whole_messages_only() -> None:
    assert command_of("tolong bantuan") is Command.help
    assert command_of("/start") is Command.start
    assert command_of("saya butuh bantuan") is None
    assert command_of("status laporan saya") is None


@pytest.mark.parametrize(
    "text",
    ["aku mau bunuh diri", "He is here.", "I want to die", "TOLONG SAYA", "dia ada di sini"],
)
def test_danger_phrases_are_found(text: str) -> None:
    assert has_danger_phrase(text)


@pytest.mark.parametrize("text", ["tolonglah dia", "di sini aman", "diskusi", "helpful"])
def test_ordinary_words_are_not_danger(text: str) -> None:
    assert not has_danger_phrase(text)
