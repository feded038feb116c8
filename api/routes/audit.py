"""The audit log, for supervisors (their agency's officers) and admins (everyone)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.schemas import REPORT_ID, AuditEventPublic, AuditPublic, errors
from api.security import CurrentSupervisor, RuntimeDep
from storage import audit

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get(
    "",
    summary="Who did what to which report, when (newest first)",
    responses=errors(401, 403, 422),
)
def read_audit(
    caller: CurrentSupervisor,
    runtime: RuntimeDep,
    report_id: Annotated[str | None, Query(pattern=REPORT_ID)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="`next_cursor` of the last page")
    ] = None,
) -> AuditPublic:
    with runtime.database.unit() as session:
        found = audit.list_events(
            agency_id=None if caller.everything else caller.agency_id,
            report_id=report_id,
            before_id=cursor,
            limit=limit + 1,
            session=session,
        )
    page = found[:limit]
    items = [
        AuditEventPublic(
            id=event.id or 0,
            at=event.at,
            officer=username,
            action=event.action,
            report_id=event.report_id,
            detail=event.detail,
        )
        for event, username in page
    ]
    more = len(found) > limit and page[-1][0].id is not None
    return AuditPublic(items=items, next_cursor=str(page[-1][0].id) if more else None)
