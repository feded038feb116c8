"""The triage API's request and response shapes (CONTRACT §5), with OpenAPI examples."""

from __future__ import annotations

from datetime import date as Day
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from pydantic.json_schema import SkipJsonSchema

from storage.models import Priority, ReferralStatus, ReportStatus
from storage.simfoni import AgeBand, Place, Relation, Sex, ViolenceForm
from storage.simfoni import Service as SimfoniService

REPORT_ID = r"^[0-9a-f-]{1,36}$"
Action = Literal["start", "refer", "resolve", "close", "reopen"]
Service = Literal[
    "psychosocial", "medical", "legal", "shelter", "police", "economic", "rehabilitation"
]
Dimension = Literal[
    "category",
    "province",
    "month",
    "priority",
    "reporter",
    "victim_age",
    # SIMFONI's categories, from the case record (storage.cases)
    "case.victim_age_band",
    "case.victim_sex",
    "case.violence_forms",
    "case.place",
    "case.perpetrator_relation",
    "case.perpetrator_sex",
]


class Problem(BaseModel):
    """Every error: what went wrong, in one sentence."""

    detail: str = Field(examples=["report not found"])


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ValidationProblem(BaseModel):
    """A 422: where each problem is and what kind (the submitted values are not echoed), or one
    sentence for a well-formed request the product cannot carry out (an agency that does not
    offer the service, say)."""

    detail: list[FieldProblem] | str


class Conflict(Problem):
    """A 409: the move is not possible now; ``allowed`` lists the actions that are."""

    allowed: list[str] | None = Field(default=None, examples=[["start", "refer", "resolve"]])
    holder: str | None = Field(default=None, description="who holds the report", examples=["sari"])


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105  (the scheme's name)
    expires_in: int = Field(description="seconds", examples=[1800])


class AttachmentPublic(BaseModel):
    id: str
    kind: str = Field(examples=["photo"])
    size: int = Field(description="bytes", examples=[183204])
    sha256: str | None = Field(description="of the file as the reporter sent it")


class ServiceGiven(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: SimfoniService
    date: Day = Field(examples=["2026-11-22"])


class CaseFields(BaseModel):
    """The case in SIMFONI PPA's categories (CONTRACT §8)."""

    victim_age_band: AgeBand | None = None
    victim_sex: Sex | None = None
    violence_forms: list[ViolenceForm] = Field(default_factory=list, max_length=7)
    place: Place | None = None
    perpetrator_relation: Relation | None = None
    perpetrator_sex: Sex | None = None
    services_given: list[ServiceGiven] = Field(default_factory=list, max_length=100)


class CaseUpdate(CaseFields):
    """Any of the fields; a field left out stays as it is, ``null`` (or ``[]``) empties it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "victim_age_band": "13-17",
                    "violence_forms": ["seksual", "psikis"],
                    "perpetrator_relation": "guru",
                    "perpetrator_sex": "L",
                    "services_given": [{"service": "pengaduan", "date": "2026-11-22"}],
                }
            ]
        },
    )


class CasePublic(CaseFields):
    from_reporter: list[str] = Field(
        description="the fields whose value came from the reporter's answers (unchanged since)",
        examples=[["victim_sex", "place"]],
    )
    updated_at: datetime | None = Field(description="`null` until an officer first saves it")
    updated_by: str | None = Field(description="username of the officer who saved it last")


class ReportSummary(BaseModel):
    """A row of the queue: enough to choose, nothing of the story."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b1f9a4e-6a53-4a1e-9a53-1c0e3cf1a7d2",
                    "reference": "LA-7KQ2MX",
                    "status": "new",
                    "priority": "critical",
                    "agency": "UPTD-PPA-JATENG",
                    "category": "sexual",
                    "victim_age": "child",
                    "province": "33",
                    "regency": "33.74",
                    "created_at": "2026-11-22T08:15:00Z",
                    "claimed_by": None,
                    "sla_due_at": "2026-11-22T08:30:00Z",
                    "overdue": False,
                }
            ]
        }
    )

    id: str
    reference: str
    status: ReportStatus
    priority: Priority
    agency: str | None = Field(description="code of the agency the report was routed to")
    category: str | None
    victim_age: str | None
    province: str | None = Field(description="BPS/Kemendagri code")
    regency: str | None
    danger: bool = Field(description="the reporter said someone is in danger now")
    created_at: datetime
    claimed_by: str | None = Field(description="username of the officer holding it")
    sla_due_at: datetime | None
    overdue: bool = Field(description="nobody has started on it and the SLA has passed")


class ReportPublic(ReportSummary):
    """One report in full: the reporter's answers as codes (CONTRACT §4) and the masked story."""

    reporter: str | None
    victim_gender: str | None
    ongoing: str | None
    when: str | None
    place: str | None
    perpetrator: str | None
    lives_with: str | None
    needs: list[str] = Field(description="the help the reporter agreed to be referred to")
    contact: str | None = Field(description="`anonymous`, `chat` or `phone`")
    story: str | None = Field(
        description="phone numbers, e-mail addresses, NIKs and receipts masked"
    )
    attachments: list[AttachmentPublic]
    allowed_actions: list[str] = Field(
        description="the moves possible now: `claim` and `release` have their own routes, the "
        "others go to `transitions`",
        examples=[["release", "start", "refer", "resolve"]],
    )
    case: CasePublic = Field(description="the case in SIMFONI's categories (`PUT …/case`)")


class ReportsPublic(BaseModel):
    items: list[ReportSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class TransitionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Action
    reason: str | None = Field(default=None, max_length=500)


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=5000, examples=["Called the school counsellor."])


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(
        min_length=1,
        max_length=2000,
        examples=["Terima kasih sudah melapor. Kami sedang menghubungi UPTD PPA terdekat."],
    )


class ReferralCreate(BaseModel):
    """A referral to an agency in the system (``agency``, its code) or to an organisation outside
    it (``organisation``, free text): exactly one of the two."""

    # The schema says "exactly one" too, so that clients (and schema-driven tests) know it.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"oneOf": [{"required": ["agency"]}, {"required": ["organisation"]}]},
    )

    service: Service
    # null is accepted (as absent) but not advertised: the schema's "one of" speaks of presence.
    agency: Annotated[str, Field(min_length=1, max_length=32)] | SkipJsonSchema[None] = Field(
        default=None, examples=["DINSOS-SEMARANG"]
    )
    organisation: Annotated[str, Field(min_length=1, max_length=200)] | SkipJsonSchema[None] = (
        Field(default=None, examples=["UPTD PPA Kota Semarang"])
    )
    note: str | None = Field(default=None, max_length=2000)

    @model_validator(mode="after")
    def one_destination(self) -> ReferralCreate:
        if (self.agency is None) == (self.organisation is None):
            raise ValueError("give exactly one of agency and organisation")
        return self


class ReferralDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, examples=["Kuota rumah aman penuh."])


class ReferralDone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: str | None = Field(default=None, max_length=2000)


class AgencyPublic(BaseModel):
    code: str = Field(examples=["DINSOS-SEMARANG"])
    name: str
    services: list[str] = Field(examples=[["psychosocial", "rehabilitation"]])
    regions: list[str] = Field(description="Kemendagri codes it covers", examples=[["33.74"]])


class ReferredReport(BaseModel):
    """The report as an agency it is referred to sees it: the answers, the masked story and the
    evidence list. Never the reply address, the callback number or how to reach the reporter."""

    id: str
    reference: str
    priority: Priority
    danger: bool
    created_at: datetime
    category: str | None
    reporter: str | None
    victim_age: str | None
    victim_gender: str | None
    ongoing: str | None
    when: str | None
    province: str | None
    regency: str | None
    place: str | None
    perpetrator: str | None
    lives_with: str | None
    needs: list[str]
    story: str | None = Field(description="phone numbers, e-mails, NIKs and receipts masked")
    attachments: list[AttachmentPublic] = Field(
        description="download at `/api/v1/referrals/{id}/attachments/{attachment_id}`"
    )


class ReferralSummary(BaseModel):
    id: str
    service: Service
    status: ReferralStatus
    from_agency: str = Field(description="code of the referring agency")
    to_agency: str | None = Field(description="code of the receiving agency, if in the system")
    organisation: str | None = Field(description="an organisation outside the system")
    reference: str = Field(description="the report's reference")
    created_at: datetime
    updated_at: datetime
    overdue: bool = Field(description="pending longer than LAPOR_REFERRAL_PENDING_HOURS")
    allowed_actions: list[str] = Field(
        description="the moves you may make now", examples=[["accept", "decline"]]
    )


class ReferralsPublic(BaseModel):
    items: list[ReferralSummary]


class ReferralPublic(ReferralSummary):
    note: str | None = Field(description="the referring officer's note")
    reason: str | None = Field(description="why it was declined")
    outcome: str | None = Field(description="what came of it, when done")
    report: ReferredReport


class AssignmentCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    officer: str = Field(description="username of an officer of the report's agency")


class MessageSent(BaseModel):
    id: int
    pushed: bool = Field(
        description="sent to the reporter's chat now (they chose `chat`); otherwise they read it "
        "at their next `status`"
    )


class CallbackPublic(BaseModel):
    phone: str = Field(description="the number the reporter asked to be called on")


class EventPublic(BaseModel):
    at: datetime
    kind: str = Field(examples=["claim", "transition", "note", "referral", "message"])
    officer: str | None
    detail: dict[str, str]
    text: str | None = Field(description="a note, a referral's note or a message")


class TimelinePublic(BaseModel):
    items: list[EventPublic]


class StatsCell(BaseModel):
    row: str = Field(description="a value of the row dimension, or `total`")
    column: str = Field(description="a value of the column dimension, or `total`")
    count: int | None = Field(description="`null` when suppressed")
    suppressed: bool


class StatsPublic(BaseModel):
    rows: Dimension
    columns: Dimension | None
    threshold: int = Field(description="counts from 1 to threshold - 1 are never published")
    cells: list[StatsCell]


class AuditEventPublic(BaseModel):
    id: int
    at: datetime
    officer: str | None
    action: str = Field(examples=["report.read", "report.claim", "auth.failed"])
    report_id: str | None
    detail: dict[str, str | int | bool | None]


class AuditPublic(BaseModel):
    items: list[AuditEventPublic]
    next_cursor: str | None


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI ``responses`` for the error statuses a route can answer."""
    described = {
        401: ("not logged in, or the token has expired", Problem),
        403: ("your role may not do this", Problem),
        404: ("no such report in your agency", Problem),
        409: ("not possible in the report's current state", Conflict),
        422: ("the request is not valid", ValidationProblem),
        429: ("too many attempts", Problem),
    }
    return {
        code: {"description": described[code][0], "model": described[code][1]} for code in codes
    }


class OfficerMe(BaseModel):
    """The signed-in officer and how alerts reach them (CONTRACT §6)."""

    username: str = Field(examples=["sari"])
    agency: str = Field(description="the agency's code", examples=["PPA-LAMPUNG"])
    role: str = Field(examples=["officer"])
    email: str | None = Field(description="where e-mail alerts go", examples=["sari@ppa.example"])
    on_duty: bool = Field(description="on duty (piket): alerted about urgent reports")
    telegram_linked: bool = Field(description="a chat with the officers' bot gets alerts")


class DutyUpdate(BaseModel):
    # Strict: "on_duty": 0 or "yes" is a mistake to point out, not a choice to guess.
    on_duty: StrictBool


class TelegramLink(BaseModel):
    """A one-time code for the officers' bot, valid 10 minutes."""

    code: str = Field(examples=["K7QM3XHP9T"])
    link: str = Field(examples=["https://t.me/lapor_petugas_bot?start=K7QM3XHP9T"])
