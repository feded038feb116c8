"""The case record in SIMFONI PPA's categories (CONTRACT §8): ``PUT /reports/{id}/case``.

The case is read with the report (``GET /reports/{id}`` holds ``case``); saving it is audited and
shown on the report's timeline. Codes only: the record holds no text.
"""

from __future__ import annotations

from fastapi import APIRouter

from api.routes.reports import ReportId, _audit, _holding, _load, _unit, case_public
from api.schemas import CasePublic, CaseUpdate, errors
from api.security import CurrentOfficer, RuntimeDep
from storage import cases
from storage.models import utcnow

router = APIRouter(prefix="/reports", tags=["reports"])


@router.put(
    "/{report_id}/case",
    summary="Complete the case in SIMFONI's categories (the fields sent; `null` empties one)",
    responses=errors(401, 404, 409, 422),
)
def update_case(
    report_id: ReportId, body: CaseUpdate, caller: CurrentOfficer, runtime: RuntimeDep
) -> CasePublic:
    now = utcnow()
    with _unit(runtime) as session:
        report = _load(report_id, caller, session, lock=True)
        _holding(report, caller, session, closed_too=True)
        record, changed = cases.update_case(
            report,
            body.model_dump(mode="json", exclude_unset=True),
            officer_id=caller.officer_id,
            now=now,
            session=session,
        )
        _audit("report.case", report, caller, now, session, fields=", ".join(changed))
        return case_public(record, session)
