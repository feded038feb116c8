"""The console's pages and forms.

Every read and action goes through the triage API's own route functions
(:mod:`api.routes.reports`, :mod:`api.routes.stats`, :mod:`api.routes.audit`), so the console
sees exactly what the API shows the same officer, refuses what it refuses, and audits the same
way. Forms post, then redirect to a page (so a reload never repeats an action).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import RedirectResponse, Response

from api.console import charts
from api.console.rendering import render, words_for
from api.console.session import (
    ConsoleAdmin,
    ConsoleOfficer,
    ConsoleSupervisor,
    PollingOfficer,
    check_csrf,
    end_session,
    start_session,
)
from api.console.words import STRINGS, Words
from api.errors import Refused, not_found
from api.routes import audit as audit_routes
from api.routes import cases as case_routes
from api.routes import exports as export_routes
from api.routes import reports as report_routes
from api.routes import stats as stats_routes
from api.routes.auth import check_password
from api.runtime import Runtime
from api.schemas import (
    REPORT_ID,
    AssignmentCreate,
    CaseUpdate,
    Dimension,
    MessageCreate,
    MessageSent,
    NoteCreate,
    ReferralCreate,
    Service,
    TransitionCreate,
)
from api.security import RuntimeDep
from flows.report import REPORT_FIELDS
from storage import audit, officers, simfoni
from storage.agencies import get_agency, list_agencies
from storage.cases import is_case_dimension
from storage.lifecycle import ACTIONS
from storage.models import Priority, ReportStatus, Role, utcnow
from storage.triage import CONSENT_FOR_SERVICE, Scope

# Form fields are checked by the API's own request models (a refusal is a message on the page);
# the body limit bounds their size.
router = APIRouter(dependencies=[Depends(check_csrf)])

ReportId = Annotated[str, Path(pattern=REPORT_ID)]
QUEUE_PAGE = 100
TEAM_PAGE = report_routes.MAX_PAGE
AUDIT_PAGE = 50
DIMENSIONS: tuple[str, ...] = get_args(Dimension)


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


def _redirect(request: Request, path: str, **query: str) -> RedirectResponse:
    suffix = f"?{urlencode(query)}" if query else ""
    return RedirectResponse(f"{_root(request)}{path}{suffix}", status_code=303)


# --- logging in and out -------------------------------------------------------------------------


@router.get("/")
def home(request: Request) -> Response:
    return _redirect(request, "/queue")


@router.get("/login")
def login_page(request: Request) -> Response:
    notice = "login.expired" if request.query_params.get("expired") else None
    if request.query_params.get("out"):
        notice = "login.out"
    return render(request, "login.html", {"notice": notice})


@router.post("/login")
def log_in(
    request: Request,
    runtime: RuntimeDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    now = utcnow()
    officer = check_password(username, password, runtime, now)
    if officer is None or officer.id is None:
        # One answer for a wrong password, an unknown user and a locked account, as in the API.
        return render(request, "login.html", {"failed": True}, status_code=401)
    response = _redirect(request, "/queue")
    start_session(response, officer.id, runtime, now)
    return response


@router.post("/logout")
def log_out(request: Request, runtime: RuntimeDep, caller: ConsoleOfficer) -> Response:
    with runtime.database.unit() as session:
        audit.record("auth.logout", utcnow(), officer_id=caller.officer_id, session=session)
    request.state.renewed_session = None
    response = _redirect(request, "/login", out="1")
    end_session(response, runtime)
    return response


# --- the queue ----------------------------------------------------------------------------------


def _queue_filters(
    status: Annotated[str, Query(max_length=20)] = "",
    priority: Annotated[str, Query(max_length=20)] = "",
    mine: Annotated[bool, Query()] = False,
) -> dict[str, Any]:
    # The filter form sends an empty value for "all"; anything else unknown also means "all".
    return {
        "status": ReportStatus(status) if status in set(ReportStatus) else None,
        "priority": Priority(priority) if priority in set(Priority) else None,
        "mine": mine,
    }


QueueFilters = Annotated[dict[str, Any], Depends(_queue_filters)]


def _queue(
    request: Request, runtime: Runtime, caller: Scope, filters: dict[str, Any], template: str
) -> Response:
    page = report_routes.list_reports(caller, runtime, limit=QUEUE_PAGE, **filters)
    shown = {key: str(value).lower() for key, value in filters.items() if value}
    context = {
        "items": page.items,
        "more": page.next_cursor is not None,
        "filters": filters,
        "query": urlencode(shown),
        "now": utcnow(),
        "statuses": list(ReportStatus),
        "priorities": list(Priority),
        "rows_url": f"{_root(request)}/queue/rows",
    }
    return render(request, template, context, officer=caller)


@router.get("/queue")
def queue_page(
    request: Request, runtime: RuntimeDep, caller: ConsoleOfficer, filters: QueueFilters
) -> Response:
    return _queue(request, runtime, caller, filters, "queue.html")


@router.get("/queue/rows")
def queue_rows(
    request: Request, runtime: RuntimeDep, caller: PollingOfficer, filters: QueueFilters
) -> Response:
    """The queue's rows alone, polled by the page (this does not keep the session alive)."""
    return _queue(request, runtime, caller, filters, "queue_rows.html")


# --- one report ---------------------------------------------------------------------------------


@router.get("/reports/{report_id}")
def report_page(
    request: Request, report_id: ReportId, runtime: RuntimeDep, caller: ConsoleOfficer
) -> Response:
    report = report_routes.read_report(report_id, caller, runtime)
    timeline = report_routes.read_timeline(report_id, caller, runtime)
    team: list[str] = []
    if caller.role is not Role.officer:
        with runtime.database.unit() as session:
            agency = get_agency(report.agency, session=session) if report.agency else None
            team = [
                officer.username
                for officer in officers.list_officers(
                    agency_id=agency.id if agency else caller.agency_id, session=session
                )
                if officer.active
            ]
    services = [
        service for service in get_args(Service) if CONSENT_FOR_SERVICE[service] in report.needs
    ]
    context = {
        "report": report,
        "timeline": timeline.items,
        "now": utcnow(),
        "answers": REPORT_FIELDS,
        "moves": [action for action in ACTIONS if action in report.allowed_actions],
        "services": services,
        "team": team,
        "ok": _notice(request, "ok"),
        "err": _notice(request, "err"),
        "case_choices": CASE_CHOICES,
    }
    return render(request, "report.html", context, officer=caller)


def _choices(field: str, codes: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(code, simfoni.label(field, code)) for code in codes]


# The case section's choices: SIMFONI's codes with SIMFONI's words (the same in both languages,
# as officers type them into SIMFONI).
CASE_CHOICES = {
    "victim_age_band": _choices("victim_age_band", simfoni.AGE_BANDS),
    "victim_sex": _choices("victim_sex", simfoni.SEXES),
    "violence_forms": _choices("violence_forms", simfoni.VIOLENCE_FORMS),
    "place": _choices("place", simfoni.PLACES),
    "perpetrator_relation": _choices("perpetrator_relation", simfoni.RELATIONS),
    "perpetrator_sex": _choices("perpetrator_sex", simfoni.SEXES),
    "services_given": _choices("services_given", simfoni.SERVICES),
}


def _notice(request: Request, kind: str) -> str | None:
    """How the last action went, named in the redirect's query (only a known message shows)."""
    key = request.query_params.get(kind, "")
    return key if key.startswith(f"{kind}.") and key in STRINGS["id"] else None


@router.get("/reports/{report_id}/attachments/{attachment_id}")
def download(
    report_id: ReportId,
    attachment_id: Annotated[str, Path(pattern=REPORT_ID)],
    runtime: RuntimeDep,
    caller: ConsoleOfficer,
) -> Response:
    # The API's own download: the same checks, the same audit entry.
    return report_routes.download_attachment(report_id, attachment_id, caller, runtime)


@router.get("/reports/{report_id}/callback")
def callback_page(
    request: Request, report_id: ReportId, runtime: RuntimeDep, caller: ConsoleOfficer
) -> Response:
    """The callback number: for the officer holding the report only, and audited (the API's)."""
    try:
        callback = report_routes.read_callback(report_id, caller, runtime)
    except Refused as exc:
        if exc.detail == not_found().detail:
            raise
        problem = "err.claim_first" if exc.status_code == 409 else "err.no_callback"
        return _redirect(request, f"/reports/{report_id}", err=problem)
    context = {"phone": callback.phone, "report_id": report_id}
    return render(request, "callback.html", context, officer=caller)


def _refusal(exc: Refused) -> str:
    """A refusal of the API, as a key of the console's words."""
    if exc.extra.get("holder") is not None or "another officer" in exc.detail:
        return "err.held"
    allowed = exc.extra.get("allowed")
    if allowed == ["claim"]:
        return "err.claim_first"
    if allowed == ["reopen"]:
        return "err.closed"
    if exc.status_code == 404:
        return "err.officer"
    if allowed is None:
        return "err.consent"
    return "err.not_now"


@dataclass(frozen=True)
class Case:
    """The report a form acts on and who acts: what the API's functions take."""

    request: Request
    report_id: str
    runtime: Runtime
    caller: Scope

    def act(
        self,
        carry_out: Callable[..., Any],
        ok: str | Callable[[Any], str],
        body: type[BaseModel] | None = None,
        /,
        **fields: object,
    ) -> Response:
        """The API's function ``carry_out`` (with ``fields`` as its ``body`` model, if it takes
        one); back to the report with a message saying how it went."""
        back = f"/reports/{self.report_id}"
        try:
            if body is None:
                result = carry_out(self.report_id, self.caller, self.runtime)
            else:
                payload = body.model_validate(fields)
                result = carry_out(self.report_id, payload, self.caller, self.runtime)
        except Refused as exc:
            if exc.status_code == 404 and exc.detail == not_found().detail:
                raise  # another agency's report: the same 404 page as for reading it
            return _redirect(self.request, back, err=_refusal(exc))
        except ValidationError:
            return _redirect(self.request, back, err="err.invalid")
        return _redirect(self.request, back, ok=ok if isinstance(ok, str) else ok(result))


def _case(
    request: Request, report_id: ReportId, runtime: RuntimeDep, caller: ConsoleOfficer
) -> Case:
    return Case(request, report_id, runtime, caller)


def _supervised_case(
    request: Request, report_id: ReportId, runtime: RuntimeDep, caller: ConsoleSupervisor
) -> Case:
    # The API checks the role in a dependency, which calling its function directly does not run.
    return Case(request, report_id, runtime, caller)


CaseDep = Annotated[Case, Depends(_case)]
SupervisedCaseDep = Annotated[Case, Depends(_supervised_case)]
# A field left blank arrives empty; the API's models judge what is sent.
FormText = Annotated[str, Form()]


@router.post("/reports/{report_id}/move")
def move(case: CaseDep, action: FormText = "", reason: FormText = "") -> Response:
    return case.act(
        report_routes.move_report, "ok.move", TransitionCreate, action=action, reason=reason or None
    )


@router.post("/reports/{report_id}/notes")
def note(case: CaseDep, text: FormText = "") -> Response:
    return case.act(report_routes.add_note, "ok.note", NoteCreate, text=text)


@router.post("/reports/{report_id}/referrals")
def refer(
    case: CaseDep, service: FormText = "", organisation: FormText = "", note: FormText = ""
) -> Response:
    return case.act(
        report_routes.refer_report,
        "ok.referral",
        ReferralCreate,
        service=service,
        organisation=organisation,
        note=note or None,
    )


def _message_sent(sent: MessageSent) -> str:
    return "ok.message_pushed" if sent.pushed else "ok.message_waiting"


@router.post("/reports/{report_id}/messages")
def message(case: CaseDep, text: FormText = "") -> Response:
    return case.act(report_routes.message_reporter, _message_sent, MessageCreate, text=text)


@router.post("/reports/{report_id}/assign")
def assign(case: SupervisedCaseDep, officer: FormText = "") -> Response:
    return case.act(report_routes.assign_report, "ok.assign", AssignmentCreate, officer=officer)


@router.post("/reports/{report_id}/case")
def save_case(
    case: CaseDep,
    *,
    victim_age_band: FormText = "",
    victim_sex: FormText = "",
    violence_forms: Annotated[list[str] | None, Form()] = None,
    place: FormText = "",
    perpetrator_relation: FormText = "",
    perpetrator_sex: FormText = "",
    service: Annotated[list[str] | None, Form()] = None,
    service_date: Annotated[list[str] | None, Form()] = None,
) -> Response:
    """The whole case section at once: an empty choice empties the field; a service row counts
    when both its kind and its date are filled in."""
    services = [
        {"service": kind, "date": day}
        for kind, day in zip(service or [], service_date or [], strict=False)
        if kind and day
    ]
    return case.act(
        case_routes.update_case,
        "ok.case",
        CaseUpdate,
        victim_age_band=victim_age_band or None,
        victim_sex=victim_sex or None,
        violence_forms=violence_forms or [],
        place=place or None,
        perpetrator_relation=perpetrator_relation or None,
        perpetrator_sex=perpetrator_sex or None,
        services_given=services,
    )


# Claiming and giving back: the API's function by the last word of the path. Last among the
# report routes, since its path would also match theirs.
HOLDING = {"claim": report_routes.claim_report, "release": report_routes.release_report}


@router.post("/reports/{report_id}/{verb}")
def hold(case: CaseDep, verb: Annotated[Literal["claim", "release"], Path()]) -> Response:
    return case.act(HOLDING[verb], f"ok.{verb}")


# --- supervisors and admins ---------------------------------------------------------------------


@router.get("/team")
def team_page(request: Request, runtime: RuntimeDep, caller: ConsoleSupervisor) -> Response:
    items = report_routes.list_reports(caller, runtime, limit=TEAM_PAGE).items
    holding = Counter(item.claimed_by for item in items if item.claimed_by)
    with runtime.database.unit() as session:
        team = officers.list_officers(
            agency_id=None if caller.everything else caller.agency_id, session=session
        )
    context = {
        "items": items,
        "breaches": [item for item in items if item.overdue],
        "team": [(officer, holding.get(officer.username, 0)) for officer in team],
        "now": utcnow(),
    }
    return render(request, "team.html", context, officer=caller)


@router.get("/audit")
def audit_page(
    request: Request,
    runtime: RuntimeDep,
    caller: ConsoleSupervisor,
    cursor: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    page = audit_routes.read_audit(caller, runtime, None, AUDIT_PAGE, cursor)
    return render(
        request,
        "audit.html",
        {"items": page.items, "next_cursor": page.next_cursor},
        officer=caller,
    )


@router.get("/stats")
def stats_page(
    request: Request,
    runtime: RuntimeDep,
    caller: ConsoleOfficer,
    rows: Annotated[Dimension, Query()] = "category",
) -> Response:
    table = stats_routes.read_stats(caller, runtime, rows, None)
    words = words_for(request)
    cells = [cell for cell in table.cells if cell.row != "total"]
    total = next((cell for cell in table.cells if cell.row == "total"), None)
    chart = charts.bar_chart(
        [(_dimension_label(words, rows, cell.row), cell.count) for cell in cells]
    )
    today = utcnow().astimezone(simfoni.WIB).date()
    context = {
        "rows": rows,
        "dimensions": DIMENSIONS,
        "chart": chart,
        "total": total.count if total else None,
        "threshold": table.threshold,
        "export_from": today.replace(day=1).isoformat(),
        "export_to": today.isoformat(),
        "err": _notice(request, "err"),
    }
    return render(request, "stats.html", context, officer=caller)


@router.get("/exports/simfoni")
def export_simfoni(
    request: Request,
    runtime: RuntimeDep,
    caller: ConsoleSupervisor,
    *,
    start: Annotated[str, Query(alias="from", max_length=10)] = "",
    end: Annotated[str, Query(alias="to", max_length=10)] = "",
    format: Annotated[Literal["csv", "xlsx"], Query()] = "xlsx",
) -> Response:
    """The API's export (the same rows, the same audit entry); a range that is not one (the API
    would give an empty file) is said on the page."""
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError:
        first, last = date.max, date.min
    if first > last:
        return _redirect(request, "/stats", err="err.export")
    return export_routes.export_simfoni(caller, runtime, first, last, format)


def _dimension_label(words: Words, dimension: str, value: str) -> str:
    if value == "unknown":
        return words("unknown")
    if is_case_dimension(dimension):
        return simfoni.label(dimension.removeprefix("case."), value)
    if dimension == "priority":
        return words(f"priority.{value}")
    return value if dimension == "month" else words.answer(dimension, value)


@router.get("/admin")
def admin_page(request: Request, runtime: RuntimeDep, caller: ConsoleAdmin) -> Response:
    with runtime.database.unit() as session:
        agencies = list_agencies(session=session)
        everyone = officers.list_officers(agency_id=None, session=session)
    codes = {agency.id: agency.code for agency, _ in agencies}
    context = {"agencies": agencies, "officers": everyone, "codes": codes}
    return render(request, "admin.html", context, officer=caller)
