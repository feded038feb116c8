"""Referrals between agencies (CONTRACT §7): the directory, the referrals an agency sent and
received, and the receiving agency's answers. A referral answers 404 to an agency that neither
sent nor received it, as a report does; every read and move is audited on the report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import Session, col

from api.errors import Refused
from api.routes.reports import (
    ReportId,
    _audit,
    _holding,
    _load,
    _names,
    _unit,
    attachment_response,
    evidence_file,
)
from api.runtime import Runtime
from api.schemas import (
    REPORT_ID,
    AgencyPublic,
    AttachmentPublic,
    Problem,
    ReferralCreate,
    ReferralDecline,
    ReferralDone,
    ReferralPublic,
    ReferralsPublic,
    ReferralSummary,
    ReferredReport,
    errors,
)
from api.security import CurrentOfficer, RuntimeDep
from flows.engine import format_help
from storage import agencies, referrals, triage
from storage.models import Agency, Referral, ReferralStatus, Report, Service, utcnow
from storage.triage import Scope

router = APIRouter(tags=["referrals"])

MAX_PAGE = 200
ReferralId = Annotated[str, Path(pattern=REPORT_ID, description="the referral's `id`")]
REGION = r"^\d{2}(\.\d{2})?$"
# The moves the reporter hears of in their chat: help that starts and help that was given.
PUSHED = ("accept", "done")


# Not a role's refusal (any officer of the right agency may): the move is the other agency's.
OTHER_SIDE: dict[int | str, dict[str, object]] = {
    403: {"description": "the other agency of the referral makes this move", "model": Problem}
}


def not_found() -> Refused:
    return Refused(404, "referral not found")


@router.get(
    "/agencies",
    summary="The directory: agencies offering a service whose regions cover a region",
    responses=errors(401, 422),
)
def find_agencies(
    caller: CurrentOfficer,
    runtime: RuntimeDep,
    service: Service,
    region: Annotated[
        str | None, Query(pattern=REGION, description="Kemendagri code: 18 or 18.11")
    ] = None,
) -> list[AgencyPublic]:
    with runtime.database.unit() as session:
        found = agencies.directory(service, region, session=session)
        offered = agencies.services_of({a.id for a, _ in found if a.id}, session=session)
    return [
        AgencyPublic(code=a.code, name=a.name, services=offered[a.id or 0], regions=regions)
        for a, regions in found
    ]


def _codes(items: list[Referral], session: Session) -> dict[int, str]:
    ids = {r.from_agency_id for r in items} | {r.to_agency_id for r in items}
    return _names(ids, col(Agency.id), col(Agency.code), session)


def _summary_fields(
    referral: Referral,
    reference: str,
    codes: dict[int, str],
    *,
    caller: Scope,
    runtime: Runtime,
    now: datetime,
) -> dict[str, object]:
    overdue = referrals.overdue(referral, now, runtime.settings.referral_pending_hours)
    allowed = [
        action
        for action in referrals.LIFECYCLE.allowed(referral.status)
        if caller.everything or referrals.acting_agency(referral, action) == caller.agency_id
    ]
    return {
        "id": referral.id,
        "service": referral.service,
        "status": referral.status,
        "from_agency": codes.get(referral.from_agency_id, ""),
        "to_agency": codes.get(referral.to_agency_id) if referral.to_agency_id else None,
        "organisation": referral.organisation,
        "reference": reference,
        "created_at": referral.created_at,
        "updated_at": referral.updated_at,
        "overdue": overdue,
        "allowed_actions": sorted(allowed),
    }


def _public(
    referral: Referral, report: Report, caller: Scope, runtime: Runtime, session: Session
) -> ReferralPublic:
    cipher = runtime.crypto.cipher

    def text(value: bytes | None) -> str | None:
        return cipher.decrypt_text(value) if value else None

    codes = _codes([referral], session)
    # Field by field, on purpose: nothing of the report reaches another agency unless named here.
    shown = ReferredReport(
        id=report.id,
        reference=report.reference,
        priority=report.priority,
        danger=report.danger,
        created_at=report.created_at,
        category=report.category,
        reporter=report.reporter,
        victim_age=report.victim_age,
        victim_gender=report.victim_gender,
        ongoing=report.ongoing,
        when=report.when,
        province=report.province,
        regency=report.regency,
        place=report.place,
        perpetrator=report.perpetrator,
        lives_with=report.lives_with,
        needs=list(report.needs or []),
        story=text(report.story_masked),
        attachments=[
            AttachmentPublic(id=item.id, kind=item.kind, size=item.size, sha256=item.sha256)
            for item in triage.attachments_of(report, session=session)
        ],
    )
    return ReferralPublic(
        **_summary_fields(
            referral, report.reference, codes, caller=caller, runtime=runtime, now=utcnow()
        ),
        note=text(referral.note),
        reason=text(referral.reason),
        outcome=text(referral.outcome),
        report=shown,
    )


def _load_referral(
    referral_id: str, caller: Scope, session: Session, *, lock: bool = False
) -> tuple[Referral, Report]:
    referral = referrals.get_referral(referral_id, caller, session=session, lock=lock)
    report = session.get(Report, referral.report_id) if referral is not None else None
    if referral is None or report is None:
        raise not_found()
    return referral, report


@router.post(
    "/reports/{report_id}/referrals",
    status_code=201,
    summary="Refer the survivor to a service: an agency in the system or an organisation outside",
    description="409 when the reporter's consent does not cover the service; 422 when the agency "
    "does not offer it (or is not known).",
    responses=errors(401, 404, 409, 422),
)
def refer_report(
    report_id: ReportId, body: ReferralCreate, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    now = utcnow()
    cipher = runtime.crypto.cipher
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        _holding(report, caller, session)
        agency = None
        if body.agency is not None:
            agency = agencies.get_agency(body.agency, session=session)
            if agency is None:
                raise Refused(422, f"no agency has the code {body.agency}")
        referral = referrals.create_referral(
            report,
            Service(body.service),
            agency=agency,
            organisation=body.organisation,
            note=cipher.encrypt_text(body.note) if body.note else None,
            scope=caller,
            now=now,
            session=session,
        )
        _audit(
            "report.referral",
            report,
            caller,
            now,
            session,
            service=body.service,
            referral=referral.id,
            to=agency.code if agency else None,
        )
        return _public(referral, report, caller, runtime, session)


@router.get(
    "/referrals",
    summary="Your agency's referrals, received or sent, newest first (incoming: pending first)",
    responses=errors(401, 422),
)
def list_referrals(
    caller: CurrentOfficer,
    runtime: RuntimeDep,
    *,
    direction: Annotated[referrals.Direction, Query()] = "incoming",
    status: ReferralStatus | None = None,
    report: Annotated[
        str | None, Query(pattern=REPORT_ID, description="only this report's referrals")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> ReferralsPublic:
    now = utcnow()
    with _unit(runtime) as session:
        found = referrals.list_referrals(
            caller,
            direction=direction,
            status=status,
            report_id=report,
            limit=limit,
            session=session,
        )
        codes = _codes(found, session)
        references = _names(
            {r.report_id for r in found},
            col(Report.id),
            col(Report.reference),
            session,
        )
    return ReferralsPublic(
        items=[
            ReferralSummary(
                **_summary_fields(
                    r,
                    references.get(r.report_id, ""),
                    codes,
                    caller=caller,
                    runtime=runtime,
                    now=now,
                )
            )
            for r in found
        ]
    )


@router.get(
    "/referrals/{referral_id}",
    summary="One referral and the report as the receiving agency sees it (the read is audited)",
    responses=errors(401, 404),
)
def read_referral(
    referral_id: ReferralId, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    now = utcnow()
    with _unit(runtime) as session:
        referral, report = _load_referral(referral_id, caller, session)
        _audit("referral.read", report, caller, now, session, referral=referral.id)
        return _public(referral, report, caller, runtime, session)


def _move(
    referral_id: str,
    action: referrals.Action,
    text: str | None,
    caller: Scope,
    runtime: Runtime,
) -> ReferralPublic:
    now = utcnow()
    with _unit(runtime) as session:
        referral, report = _load_referral(referral_id, caller, session, lock=True)
        try:
            referrals.answer(
                referral,
                report,
                action,
                text=runtime.crypto.cipher.encrypt_text(text) if text else None,
                scope=caller,
                now=now,
                session=session,
            )
        except referrals.WrongSide as exc:
            raise Refused(403, str(exc)) from None
        _audit(
            f"referral.{action}",
            report,
            caller,
            now,
            session,
            referral=referral.id,
            to=str(referral.status),
        )
        if action in PUSHED:
            # Pushed only if the reporter chose the chat; otherwise read at their next `status`.
            help_ = referrals.help_arranged(report.id, session=session)
            words = format_help(runtime.inbox.flows.catalogue, report.locale, help_)
            runtime.inbox.notify_reporter(report, words, now, session=session)
        return _public(referral, report, caller, runtime, session)


@router.post(
    "/referrals/{referral_id}/accept",
    summary="The receiving agency takes the referral; 409 if the states forbid it",
    responses={**errors(401, 404, 409), **OTHER_SIDE},
)
def accept_referral(
    referral_id: ReferralId, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    return _move(referral_id, "accept", None, caller, runtime)


@router.post(
    "/referrals/{referral_id}/decline",
    summary="The receiving agency cannot take it, and says why",
    responses={**errors(401, 404, 409, 422), **OTHER_SIDE},
)
def decline_referral(
    referral_id: ReferralId, body: ReferralDecline, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    return _move(referral_id, "decline", body.reason, caller, runtime)


@router.post(
    "/referrals/{referral_id}/done",
    summary="The receiving agency has given the service (an outcome is optional)",
    responses={**errors(401, 404, 409, 422), **OTHER_SIDE},
)
def finish_referral(
    referral_id: ReferralId, body: ReferralDone, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    return _move(referral_id, "done", body.outcome, caller, runtime)


@router.post(
    "/referrals/{referral_id}/revoke",
    summary="The referring agency withdraws the referral",
    responses={**errors(401, 404, 409), **OTHER_SIDE},
)
def revoke_referral(
    referral_id: ReferralId, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReferralPublic:
    return _move(referral_id, "revoke", None, caller, runtime)


@router.get(
    "/referrals/{referral_id}/attachments/{attachment_id}",
    summary="An evidence file of the referred report; the download is audited",
    response_class=Response,
    responses={
        **errors(401, 404),
        200: {"content": {"application/octet-stream": {}}, "description": "the file"},
    },
)
def download_attachment(
    referral_id: ReferralId,
    attachment_id: Annotated[str, Path(pattern=REPORT_ID)],
    caller: CurrentOfficer,
    runtime: RuntimeDep,
) -> Response:
    now = utcnow()
    with _unit(runtime) as session:
        referral, report = _load_referral(referral_id, caller, session)
        found, content = evidence_file(report, attachment_id, session)
        _audit(
            "referral.attachment",
            report,
            caller,
            now,
            session,
            referral=referral.id,
            attachment=found.id,
        )
    return attachment_response(runtime, found, content)
