"""The SIMFONI export (CONTRACT §8): an agency's cases of a date range, one row per report, in
SIMFONI PPA's columns and words, for the monthly data entry. CSV (UTF-8 with a byte-order mark,
so that spreadsheet programs read the Indonesian names right) or XLSX (openpyxl).

Codes and names only: the reference, dates, region names, SIMFONI's categories and the status.
Never the story, a file, a contact or a receipt. Every export is audited with its range and size.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from starlette.responses import Response

from api.console.words import STRINGS
from api.schemas import errors
from api.security import CurrentSupervisor, RuntimeDep
from flows.regions import Regions
from storage import audit, cases, simfoni
from storage.models import CaseRecord, Report, utcnow

router = APIRouter(prefix="/exports", tags=["exports"])

Format = Literal["csv", "xlsx"]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}
EARLIEST = date(2000, 1, 1)
LATEST = date(2100, 12, 31)
MAX_WIDTH = 60
Row = list[str | date]


@router.get(
    "/simfoni",
    summary="Supervisors and admins: the agency's reports received in a range (dates in WIB, "
    "both included), in SIMFONI's columns",
    response_class=Response,
    responses={
        **errors(401, 403, 422),
        200: {
            "content": {MEDIA_TYPES["csv"]: {}, XLSX: {}},
            "description": "the file, one row per report",
        },
    },
)
def export_simfoni(
    caller: CurrentSupervisor,
    runtime: RuntimeDep,
    start: Annotated[date, Query(alias="from", description="first day (YYYY-MM-DD)")],
    end: Annotated[date, Query(alias="to", description="last day (YYYY-MM-DD)")],
    format: Annotated[Format, Query()] = "csv",
) -> Response:
    now = utcnow()
    regions = runtime.inbox.flows.regions
    with runtime.database.unit() as session:
        found = cases.cases_received(
            caller.agency_id,
            _day_start(_bounded(start)),
            # A range that ends before it starts holds no day, and so no report.
            _day_start(_bounded(end) + timedelta(days=1)),
            session=session,
        )
        rows = [_row(report, case, regions) for report, case in found]
        audit.record(
            "export.simfoni",
            now,
            officer_id=caller.officer_id,
            detail={
                "from": start.isoformat(),
                "to": end.isoformat(),
                "format": format,
                "rows": len(rows),
            },
            session=session,
        )
    content = _xlsx(rows) if format == "xlsx" else _csv(rows)
    name = f"simfoni-{start.isoformat()}-{end.isoformat()}.{format}"
    return Response(
        content,
        media_type=MEDIA_TYPES[format],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _bounded(day: date) -> date:
    # No report is older than the product or far in the future; bounding the days keeps the
    # day arithmetic (a day's start in WIB, the next day) inside what datetime holds.
    return min(max(day, EARLIEST), LATEST)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, simfoni.WIB).astimezone(UTC)


def _labels(field: str, codes: list[str]) -> str:
    return "; ".join(simfoni.label(field, code) for code in codes)


def _label(field: str, code: str | None) -> str:
    return simfoni.label(field, code) if code else ""


def _region(regions: Regions, code: str | None) -> str:
    region = regions.get(code) if code else None
    return region.name if region is not None else (code or "")


def _row(report: Report, case: CaseRecord, regions: Regions) -> Row:
    services = "; ".join(
        f"{simfoni.label('services_given', item['service'])} ({item['date']})"
        for item in case.services_given
    )
    return [
        report.reference,
        report.created_at.astimezone(simfoni.WIB).date(),
        _region(regions, report.province),
        _region(regions, report.regency),
        _label("victim_age_band", case.victim_age_band),
        _label("victim_sex", case.victim_sex),
        _labels("violence_forms", case.violence_forms),
        _label("place", case.place),
        _label("perpetrator_relation", case.perpetrator_relation),
        services,
        STRINGS["id"][f"status.{report.status}"],
    ]


def _csv(rows: list[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(simfoni.COLUMNS)
    for row in rows:
        writer.writerow([cell.isoformat() if isinstance(cell, date) else cell for cell in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(rows: list[Row]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "SIMFONI"
    sheet.append(list(simfoni.COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for cell in sheet["B"][1:]:
        cell.number_format = "DD-MM-YYYY"
    for index, header in enumerate(simfoni.COLUMNS, start=1):
        longest = max(
            [len(header), *(len(_shown(row[index - 1])) for row in rows)],
        )
        sheet.column_dimensions[get_column_letter(index)].width = min(longest + 2, MAX_WIDTH)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _shown(cell: str | date) -> str:
    return "00-00-0000" if isinstance(cell, date) else cell
