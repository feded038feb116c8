"""Report counts for planning and reporting, safe to publish: small cells are suppressed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.schemas import Dimension, StatsCell, StatsPublic, errors
from api.security import CurrentOfficer, RuntimeDep
from api.suppression import THRESHOLD, TOTAL, suppress
from storage import triage

router = APIRouter(prefix="/stats", tags=["stats"])


@router.get(
    "",
    summary="Counts by one dimension, or two (`columns`), with every count below 10 suppressed",
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
        counts = triage.counts(caller, rows, columns, session=session)
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
