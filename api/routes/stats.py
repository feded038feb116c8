"""Report counts for planning and reporting, safe to publish: small cells are suppressed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.schemas import Dimension, StatsCell, StatsPublic, errors
from api.security import CurrentOfficer, RuntimeDep
from api.suppression import THRESHOLD, TOTAL, suppress
from storage import cases, triage

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "",
    summary="Counts by one dimension, or two (`columns`), with every count below 10 suppressed; "
    "`case.…` dimensions count SIMFONI's categories (a report counts under each of its forms of "
    "violence)",
    responses=errors(401, 422),
)
def read_stats(
    caller: CurrentOfficer,
    runtime: RuntimeDep,
    rows: Annotated[Dimension, Query(description="the dimension counted")] = "category",
    columns: Annotated[
        Dimension | None,
        Query(description="a second dimension (the same as `rows` gives the one-way table)"),
    ] = None,
) -> StatsPublic:
    if columns == rows:
        columns = None  # a table of a dimension by itself is its one-way table
    with runtime.database.unit() as session:
        # SIMFONI's categories come from the case record, the rest from the report's answers.
        by_case = cases.is_case_dimension(rows) or cases.is_case_dimension(columns)
        count = cases.counts if by_case else triage.counts
        counts = count(caller, rows, columns, session=session)
    row_keys = sorted({row for row, _ in counts})
    col_keys = sorted({col for _, col in counts}) if columns else None
    table = suppress(counts, row_keys, col_keys)
    cells = []
    for row in [*row_keys, TOTAL]:
        for col in [*table.cols, TOTAL] if columns else [TOTAL]:
            if (row, col) not in table.values:
                continue
            value = table.published((row, col))
            cells.append(StatsCell(row=row, column=col, count=value, suppressed=value is None))
    return StatsPublic(rows=rows, columns=columns, threshold=THRESHOLD, cells=cells)
