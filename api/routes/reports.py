"""The duty officers' report routes (CONTRACT §5): queue, read, claim, moves, notes, messages
(referrals: :mod:`api.routes.referrals`). Each request is one unit of work, committed before the
answer is sent; every read of a report and every action is audited in the same unit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response
from sqlmodel import Session, col, select

from api.errors import Refused, not_found
from api.runtime import Runtime
from api.schemas import (
    REPORT_ID,
    AssignmentCreate,
    AttachmentPublic,
    CallbackPublic,
    CasePublic,
    EventPublic,
    MessageCreate,
    MessageSent,
    NoteCreate,
    ReportPublic,
    ReportsPublic,
    ReportSummary,
    TimelinePublic,
    TransitionCreate,
    errors,
)
from api.security import CurrentOfficer, CurrentSupervisor, RuntimeDep
from storage import audit, cases, media, reports, triage
from storage.lifecycle import IllegalMove, allowed_actions
from storage.masking import mask_pii
from storage.models import (
    Agency,
    Attachment,
    CaseRecord,
    MessageDirection,
    Officer,
    Priority,
    Report,
    ReportStatus,
    utcnow,
)
from storage.officers import find_officer
from storage.referrals import NoConsent, NotOffered
from storage.triage import NotYours, QueueItem, Scope

router = APIRouter(prefix="/reports", tags=["reports"])

MAX_PAGE = 200
ReportId = Annotated[str, Path(pattern=REPORT_ID, description="the report's `id`")]
MAX_MICROS = 253402300799999999  # 9999-12-31T23:59:59.999999Z, the last time datetime can hold


@contextmanager
def _unit(runtime: Runtime) -> Iterator[Session]:
    """One transaction; the translation of storage refusals into HTTP answers."""
    try:
        with runtime.database.unit() as session:
            yield session
    except IllegalMove as exc:
        raise Refused(409, str(exc), allowed=exc.allowed) from None
    except NotYours as exc:
        raise Refused(409, str(exc), holder=exc.holder) from None
    except NoConsent as exc:
        raise Refused(409, str(exc)) from None
    except NotOffered as exc:
        raise Refused(422, str(exc)) from None


def _load(report_id: str, caller: Scope, session: Session, *, lock: bool = False) -> Report:
    report = triage.get_visible(report_id, caller, session=session, lock=lock)
    if report is None:
        raise not_found()
    return report


def _audit(
    what: str,
    report: Report,
    caller: Scope,
    now: datetime,
    session: Session,
    **detail: Any,
) -> None:
    audit.record(
        what,
        now,
        officer_id=caller.officer_id,
        report_id=report.id,
        detail=detail,
        session=session,
    )


def _names(ids: set[Any], key: Any, name: Any, session: Session) -> dict[Any, str]:
    """``name`` by ``key`` for the given ids, in one query (agency codes, officers' usernames,
    reports' references)."""
    wanted = {value for value in ids if value is not None}
    if not wanted:
        return {}
    rows = session.execute(select(key, name).where(key.in_(wanted))).all()
    return {found: str(label) for found, label in rows}


def _agency_codes(reports_: Sequence[Report | QueueItem], session: Session) -> dict[int, str]:
    return _names({r.agency_id for r in reports_}, col(Agency.id), col(Agency.code), session)


def _usernames(reports_: Sequence[Report | QueueItem], session: Session) -> dict[int, str]:
    ids = {r.claimed_by for r in reports_}
    return _names(ids, col(Officer.id), col(Officer.username), session)


def _summary_fields(
    report: Report | QueueItem, agencies: dict[int, str], names: dict[int, str], now: datetime
) -> dict[str, Any]:
    return {
        "id": report.id,
        "reference": report.reference,
        "status": report.status,
        "priority": report.priority,
        "agency": agencies.get(report.agency_id) if report.agency_id is not None else None,
        "category": report.category,
        "victim_age": report.victim_age,
        "province": report.province,
        "regency": report.regency,
        "danger": report.danger,
        "created_at": report.created_at,
        "claimed_by": names.get(report.claimed_by) if report.claimed_by is not None else None,
        "sla_due_at": report.sla_due_at,
        "overdue": triage.overdue(report, now),
    }


def _public(report: Report, runtime: Runtime, session: Session, now: datetime) -> ReportPublic:
    cipher = runtime.crypto.cipher
    attachments = [
        AttachmentPublic(id=item.id, kind=item.kind, size=item.size, sha256=item.sha256)
        for item in triage.attachments_of(report, session=session)
    ]
    return ReportPublic(
        **_summary_fields(
            report, _agency_codes([report], session), _usernames([report], session), now
        ),
        reporter=report.reporter,
        victim_gender=report.victim_gender,
        ongoing=report.ongoing,
        when=report.when,
        place=report.place,
        perpetrator=report.perpetrator,
        lives_with=report.lives_with,
        needs=list(report.needs or []),
        contact=report.contact,
        story=cipher.decrypt_text(report.story_masked) if report.story_masked else None,
        attachments=attachments,
        allowed_actions=allowed_actions(report.status),
        case=case_public(cases.case_of(report, session=session), session),
    )


def case_public(record: CaseRecord, session: Session) -> CasePublic:
    saved = record.updated_by is not None  # a case nobody saved is the reporter's answers alone
    return CasePublic(
        victim_age_band=record.victim_age_band,
        victim_sex=record.victim_sex,
        violence_forms=record.violence_forms,
        place=record.place,
        perpetrator_relation=record.perpetrator_relation,
        perpetrator_sex=record.perpetrator_sex,
        services_given=record.services_given,
        from_reporter=record.from_reporter,
        updated_at=record.updated_at if saved else None,
        updated_by=triage.username_of(record.updated_by, session=session),
    )


# A cursor is a position in the queue's order: priority rank, submission time (microseconds since
# the epoch) and id. Any cursor of this shape is a valid position, so none is ever "unknown".
CURSOR = r"^[0-9]\.[0-9]{1,17}\.[0-9a-f-]{1,36}$"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _encode_cursor(report: Report | QueueItem) -> str:
    rank = triage.PRIORITY_RANK[Priority(report.priority)]
    micros = (report.created_at - EPOCH) // timedelta(microseconds=1)
    return f"{rank}.{micros}.{report.id}"


def _decode_cursor(cursor: str) -> tuple[int, datetime, str]:
    rank, micros, report_id = cursor.split(".", 2)
    at = EPOCH + timedelta(microseconds=min(int(micros), MAX_MICROS))
    return int(rank), at, report_id


@router.get(
    "",
    summary="The queue: your agency's open reports, most urgent and oldest first",
    responses=errors(401, 422),
)
def list_reports(
    caller: CurrentOfficer,
    runtime: RuntimeDep,
    *,
    status: ReportStatus | None = None,
    priority: Priority | None = None,
    mine: bool = False,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR, description="`next_cursor` of the page before")
    ] = None,
) -> ReportsPublic:
    after = _decode_cursor(cursor) if cursor else None
    now = utcnow()
    # Only read (not audited), so not queued behind the reporters' turns for SQLite's writer.
    with runtime.database.read() as session:
        found = triage.queue(
            caller,
            status=status,
            priority=priority,
            mine=mine,
            after=after,
            limit=limit + 1,
            session=session,
        )
        page = found[:limit]
        agencies, names = _agency_codes(page, session), _usernames(page, session)
        items = [ReportSummary(**_summary_fields(r, agencies, names, now)) for r in page]
    next_cursor = _encode_cursor(page[-1]) if len(found) > limit else None
    return ReportsPublic(items=items, next_cursor=next_cursor)


@router.get("/{report_id}", summary="One report (the read is audited)", responses=errors(401, 404))
def read_report(report_id: ReportId, caller: CurrentOfficer, runtime: RuntimeDep) -> ReportPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session)
        _audit("report.read", report, caller, now, session)
        return _public(report, runtime, session, now)


@router.post(
    "/{report_id}/claim",
    summary="Take the report; 409 if another officer holds it",
    responses=errors(401, 404, 409),
)
def claim_report(report_id: ReportId, caller: CurrentOfficer, runtime: RuntimeDep) -> ReportPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = triage.claim(_load(report_id, caller, session), caller, now, session=session)
        _audit("report.claim", report, caller, now, session)
        return _public(report, runtime, session, now)


@router.post(
    "/{report_id}/release",
    summary="Give the report back to the queue",
    responses=errors(401, 404, 409),
)
def release_report(
    report_id: ReportId, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReportPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        triage.release(report, caller, now, session=session)
        _audit("report.release", report, caller, now, session)
        return _public(report, runtime, session, now)


@router.post(
    "/{report_id}/assign",
    summary="Supervisors: hand the report to an officer of its agency",
    responses=errors(401, 403, 404, 409, 422),
)
def assign_report(
    report_id: ReportId, body: AssignmentCreate, caller: CurrentSupervisor, runtime: RuntimeDep
) -> ReportPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        officer = find_officer(body.officer, session=session)
        if (
            officer is None
            or not officer.active
            or (report.agency_id is not None and officer.agency_id != report.agency_id)
        ):
            raise Refused(404, "no active officer of this report's agency has that username")
        _not_closed(report)
        triage.reassign(report, officer, caller, now, session=session)
        _audit("report.assign", report, caller, now, session, to=officer.id)
        return _public(report, runtime, session, now)


@router.post(
    "/{report_id}/transitions",
    summary="Move the report through its lifecycle; 409 lists the moves allowed",
    responses=errors(401, 404, 409, 422),
)
def move_report(
    report_id: ReportId, body: TransitionCreate, caller: CurrentOfficer, runtime: RuntimeDep
) -> ReportPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        reason = runtime.crypto.cipher.encrypt_text(body.reason) if body.reason else None
        triage.transition(report, body.action, caller, now, reason, session=session)
        _audit(
            "report.transition", report, caller, now, session, action=body.action, to=report.status
        )
        return _public(report, runtime, session, now)


@router.post(
    "/{report_id}/notes",
    status_code=201,
    summary="An internal note (never shown to the reporter)",
    responses=errors(401, 404, 422),
)
def add_note(
    report_id: ReportId, body: NoteCreate, caller: CurrentOfficer, runtime: RuntimeDep
) -> TimelinePublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session)
        triage.add_note(
            report, runtime.crypto.cipher.encrypt_text(body.text), caller, now, session=session
        )
        _audit("report.note", report, caller, now, session)
        return _timeline(report, runtime, session)


def _not_closed(report: Report) -> None:
    if report.status == ReportStatus.closed:
        raise Refused(409, "the case is closed; reopen it first", allowed=["reopen"])


def _holding(report: Report, caller: Scope, session: Session, *, closed_too: bool = False) -> None:
    """Referrals, messages and the case record come from the officer holding the case (or a
    supervisor); ``closed_too``: also once it is closed (the case record is often completed
    after closing, for the monthly SIMFONI entry)."""
    if report.status == ReportStatus.new:
        raise Refused(409, "claim the report first", allowed=["claim"])
    if not closed_too:
        _not_closed(report)
    triage.require_holder(report, caller, session=session)


@router.post(
    "/{report_id}/messages",
    status_code=201,
    summary="Write to the reporter: pushed to their chat if they chose it, else shown at `status`",
    responses=errors(401, 404, 409, 422),
)
def message_reporter(
    report_id: ReportId, body: MessageCreate, caller: CurrentOfficer, runtime: RuntimeDep
) -> MessageSent:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        _holding(report, caller, session)
        message = reports.add_message(
            report.id,
            MessageDirection.to_reporter,
            runtime.crypto.cipher.encrypt_text(body.text),
            now,
            officer_id=caller.officer_id,
            session=session,
        )
        pushed = runtime.inbox.notify_reporter(report, body.text, now, session=session)
        _audit("report.message", report, caller, now, session, pushed=pushed)
        assert message.id is not None
        return MessageSent(id=message.id, pushed=pushed)


@router.get(
    "/{report_id}/timeline",
    summary="What happened to the report: claims, moves, notes, referrals and messages",
    responses=errors(401, 404),
)
def read_timeline(
    report_id: ReportId, caller: CurrentOfficer, runtime: RuntimeDep
) -> TimelinePublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session)
        _audit("report.timeline", report, caller, now, session)
        return _timeline(report, runtime, session)


@router.get(
    "/{report_id}/callback",
    summary="The number the reporter asked to be called on: holder only, audited",
    responses=errors(401, 404, 409),
)
def read_callback(
    report_id: ReportId, caller: CurrentOfficer, runtime: RuntimeDep
) -> CallbackPublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session)
        if report.claimed_by != caller.officer_id:
            raise Refused(
                409,
                "only the officer holding the report sees the callback number",
                allowed=["claim"],
            )
        if report.callback_phone is None:
            raise Refused(404, "the reporter gave no callback number")
        _audit("report.callback", report, caller, now, session)
        return CallbackPublic(phone=runtime.crypto.cipher.decrypt_text(report.callback_phone))


@router.get(
    "/{report_id}/attachments/{attachment_id}",
    summary="An evidence file (images without their metadata); the download is audited",
    response_class=Response,
    responses={
        **errors(401, 404),
        200: {"content": {"application/octet-stream": {}}, "description": "the file"},
    },
)
def download_attachment(
    report_id: ReportId,
    attachment_id: Annotated[str, Path(pattern=REPORT_ID)],
    caller: CurrentOfficer,
    runtime: RuntimeDep,
) -> Response:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session)
        found, content = evidence_file(report, attachment_id, session)
        _audit("report.attachment", report, caller, now, session, attachment=found.id)
    return attachment_response(runtime, found, content)


def evidence_file(report: Report, attachment_id: str, session: Session) -> tuple[Attachment, bytes]:
    """One of the report's stored evidence files and its (encrypted) content; 404 otherwise."""
    found = next(
        (a for a in triage.attachments_of(report, session=session) if a.id == attachment_id),
        None,
    )
    content = media.content_of(attachment_id, session=session) if found else None
    if found is None or content is None:
        raise Refused(404, "attachment not found")
    return found, content


def attachment_response(runtime: Runtime, found: Attachment, content: bytes) -> Response:
    """An evidence file, decrypted, as a download the browser neither sniffs nor keeps."""
    return Response(
        runtime.crypto.cipher.decrypt(content),
        media_type=found.content_type,
        headers={
            "Content-Disposition": f'attachment; filename="{found.kind}-{found.id[:8]}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _timeline(report: Report, runtime: Runtime, session: Session) -> TimelinePublic:
    cipher = runtime.crypto.cipher
    items = [
        EventPublic(
            at=event.at,
            kind=event.kind,
            officer=username,
            detail={key: str(value) for key, value in event.detail.items()},
            text=cipher.decrypt_text(event.text) if event.text else None,
        )
        for event, username in triage.timeline(report, session=session)
    ]
    messages = reports.messages_of(report.id, session=session)
    names = _names(
        {m.officer_id for m in messages}, col(Officer.id), col(Officer.username), session
    )
    for message in messages:
        text = cipher.decrypt_text(message.text)
        detail = {"direction": str(message.direction)}
        if message.direction == MessageDirection.to_reporter:
            detail["seen"] = "yes" if message.seen_at is not None else "no"
        else:
            text = mask_pii(text)  # as in the story: a number stays with the reporter
        items.append(
            EventPublic(
                at=message.created_at,
                kind="message",
                officer=names.get(message.officer_id) if message.officer_id else None,
                detail=detail,
                text=text,
            )
        )
    items.sort(key=lambda item: item.at)
    return TimelinePublic(items=items)
