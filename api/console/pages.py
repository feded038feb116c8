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

import segno
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
from api.routes import me as me_routes
from api.routes import referrals as referral_routes
from api.routes import reports as report_routes
from api.routes import stats as stats_routes
from api.routes.auth import check_password
from api.runtime import Runtime
from api.schemas import (
    REPORT_ID,
    AssignmentCreate,
    CaseUpdate,
    Dimension,
    DutyUpdate,
    MessageCreate,
    MessageSent,
    NoteCreate,
    ReferralCreate,
    ReferralDecline,
    ReferralDone,
    TransitionCreate,
)
from api.security import RuntimeDep
from bot.messages import ReplyAddress
from flows.report import REPORT_FIELDS
from storage import audit, officers, simfoni, windows
from storage.agencies import directory, get_agency, list_agencies
from storage.cases import is_case_dimension
from storage.lifecycle import ACTIONS
from storage.models import Channel, Priority, Report, ReportStatus, Role, WindowNotice, utcnow
from storage.referrals import services_consented
from storage.triage import Scope

# Form fields are checked by the API's own request models (a refusal is a message on the page);
# the body limit bounds their size.
router = APIRouter(dependencies=[Depends(check_csrf)])

ReportId = Annotated[str, Path(pattern=REPORT_ID)]
ReferralId = Annotated[str, Path(pattern=REPORT_ID)]
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
    services = services_consented(report.needs)
    region = report.regency or report.province
    with runtime.database.unit() as session:
        # The directory first: agencies offering each service the reporter agreed to, for the
        # report's region (national ones always), never the caller's own agency.
        offered = [
            (
                service,
                [
                    a
                    for a, _ in directory(service, region, session=session)
                    if a.id != caller.agency_id
                ],
            )
            for service in services
        ]
    sent = referral_routes.list_referrals(
        caller, runtime, direction="outgoing", report=report_id, limit=referral_routes.MAX_PAGE
    )
    context = {
        "report": report,
        "timeline": timeline.items,
        "now": utcnow(),
        "answers": REPORT_FIELDS,
        "moves": [action for action in ACTIONS if action in report.allowed_actions],
        "services": services,
        "directory": [(service, found) for service, found in offered if found],
        "referrals": sent.items,
        "team": team,
        "held": _held(runtime, report.id),
        "ok": _notice(request, "ok"),
        "err": _notice(request, "err"),
        "case_choices": CASE_CHOICES,
    }
    return render(request, "report.html", context, officer=caller)


def _held(runtime: Runtime, report_id: str) -> dict[str, Any] | None:
    """Whether the officers' messages wait for a WhatsApp reporter to write again (the 24-hour
    window closed): since when, and whether the template told the reporter so."""
    with runtime.database.unit() as session:
        report = session.get(Report, report_id)
        if report is None or report.reply_channel != Channel.whatsapp or not report.reply_address:
            return None
        reply = ReplyAddress.from_bytes(runtime.crypto.cipher.decrypt(report.reply_address))
        window = windows.read_window(reply.reporter_key, session=session)
    if window is None or window.held_since is None:
        return None
    return {"since": window.held_since, "notified": window.notice is WindowNotice.sent}


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


# Refusals told apart by their status alone (a 409 says more in its ``allowed``).
REFUSED = {404: "err.officer", 403: "err.wrong_side", 422: "err.not_offered"}


def _refusal(exc: Refused) -> str:
    """A refusal of the API, as a key of the console's words."""
    if exc.extra.get("holder") is not None or "another officer" in exc.detail:
        return "err.held"
    allowed = exc.extra.get("allowed")
    if allowed == ["claim"]:
        return "err.claim_first"
    if allowed == ["reopen"]:
        return "err.closed"
    if exc.status_code in REFUSED:
        return REFUSED[exc.status_code]
    if allowed is None:
        return "err.consent"
    return "err.not_now"


NOT_FOUND = (not_found().detail, referral_routes.not_found().detail)


@dataclass(frozen=True)
class Case:
    """The report a form acts on and who acts: what the API's functions take."""

    request: Request
    report_id: str  # (or, on a referral's page, the referral's id)
    runtime: Runtime
    caller: Scope
    page: str = "reports"

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
        back = f"/{self.page}/{self.report_id}"
        try:
            if body is None:
                result = carry_out(self.report_id, self.caller, self.runtime)
            else:
                payload = body.model_validate(fields)
                result = carry_out(self.report_id, payload, self.caller, self.runtime)
        except Refused as exc:
            if exc.status_code == 404 and exc.detail in NOT_FOUND:
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
    case: CaseDep,
    to: FormText = "",
    service: FormText = "",
    organisation: FormText = "",
    note: FormText = "",
) -> Response:
    """A referral from the directory (``to`` is ``service:AGENCY``) or to an organisation outside
    the system (``service`` and ``organisation``)."""
    agency = None
    if to:
        service, _, agency = to.partition(":")
    return case.act(
        referral_routes.refer_report,
        "ok.referral",
        ReferralCreate,
        service=service,
        agency=agency or None,
        organisation=None if to else organisation,
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


# --- referrals received -------------------------------------------------------------------------


@router.get("/referrals")
def incoming_page(request: Request, runtime: RuntimeDep, caller: ConsoleOfficer) -> Response:
    page = referral_routes.list_referrals(
        caller, runtime, direction="incoming", limit=referral_routes.MAX_PAGE
    )
    context = {"items": page.items, "now": utcnow()}
    return render(request, "referrals.html", context, officer=caller)


@router.get("/referrals/{referral_id}")
def referral_page(
    request: Request, referral_id: ReferralId, runtime: RuntimeDep, caller: ConsoleOfficer
) -> Response:
    referral = referral_routes.read_referral(referral_id, caller, runtime)
    context = {
        "referral": referral,
        "report": referral.report,
        # How the reporter is reached stays with the agency holding the case.
        "answers": [field for field in REPORT_FIELDS if field != "contact"],
        "now": utcnow(),
        "ok": _notice(request, "ok"),
        "err": _notice(request, "err"),
    }
    return render(request, "referral.html", context, officer=caller)


@router.get("/referrals/{referral_id}/attachments/{attachment_id}")
def referral_download(
    referral_id: ReferralId,
    attachment_id: Annotated[str, Path(pattern=REPORT_ID)],
    runtime: RuntimeDep,
    caller: ConsoleOfficer,
) -> Response:
    return referral_routes.download_attachment(referral_id, attachment_id, caller, runtime)


def _referral(
    request: Request, referral_id: ReferralId, runtime: RuntimeDep, caller: ConsoleOfficer
) -> Case:
    return Case(request, referral_id, runtime, caller, page="referrals")


ReferralCaseDep = Annotated[Case, Depends(_referral)]


@router.post("/referrals/{referral_id}/decline")
def decline(case: ReferralCaseDep, reason: FormText = "") -> Response:
    return case.act(referral_routes.decline_referral, "ok.decline", ReferralDecline, reason=reason)


@router.post("/referrals/{referral_id}/done")
def finish(case: ReferralCaseDep, outcome: FormText = "") -> Response:
    return case.act(
        referral_routes.finish_referral, "ok.done", ReferralDone, outcome=outcome or None
    )


# Accepting and withdrawing take no fields: the API's function by the last word of the path.
ANSWERING = {
    "accept": referral_routes.accept_referral,
    "revoke": referral_routes.revoke_referral,
}


@router.post("/referrals/{referral_id}/{verb}")
def answer(case: ReferralCaseDep, verb: Annotated[Literal["accept", "revoke"], Path()]) -> Response:
    return case.act(ANSWERING[verb], f"ok.{verb}")


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


# --- duty and notifications (officer alerts) ----------------------------------------------------


@router.post("/duty")
def duty(
    request: Request,
    runtime: RuntimeDep,
    caller: ConsoleOfficer,
    on_duty: FormText = "",
    back: FormText = "",
) -> Response:
    """The header's toggle: the API's own function, then back to the page it was pressed on."""
    me_routes.set_duty(DutyUpdate(on_duty=on_duty == "1"), caller, runtime)
    root = _root(request)
    # Only a page of the console itself (no other site, no scheme-relative URL).
    if not back.startswith(f"{root}/") or back.startswith("//") or "\\" in back:
        back = f"{root}/queue"
    return RedirectResponse(back, status_code=303)


def _notifications(request: Request, runtime: Runtime, caller: Scope, **extra: object) -> Response:
    context = {
        "me": me_routes.describe(caller, runtime),
        "telegram_ready": runtime.officer_bot is not None,
        **extra,
    }
    return render(request, "notifications.html", context, officer=caller)


@router.get("/notifications")
def notifications_page(request: Request, runtime: RuntimeDep, caller: ConsoleOfficer) -> Response:
    return _notifications(request, runtime, caller)


@router.post("/notifications/telegram-link")
def telegram_link(request: Request, runtime: RuntimeDep, caller: ConsoleOfficer) -> Response:
    """A fresh one-time code, shown on the page (never in a URL), with its link and QR code."""
    try:
        link = me_routes.new_telegram_link(caller, runtime)
    except Refused:
        return _notifications(request, runtime, caller, telegram_error=True)
    qr = segno.make(link.link, error="m").svg_data_uri(scale=6, border=2)
    return _notifications(request, runtime, caller, link=link, qr=qr)
