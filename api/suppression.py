"""Small-cell suppression for published statistics.

A count from 1 to 9 could point at a person, so it is published as ``None`` (primary suppression).
Totals are published too, so a lone hidden cell could be worked out by subtraction; more cells are
hidden until no hidden cell is determined by the published values and totals (secondary
suppression). "Determined" is exact linear algebra over the table's sum equations: a hidden cell is
determined when its unit vector lies in the row space of the equations restricted to hidden cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

THRESHOLD = 10
TOTAL = "total"

Cell = tuple[str, str]


@dataclass(frozen=True)
class Table:
    """Counts by row and column keys, with every total; ``hidden`` cells are not published."""

    rows: list[str]
    cols: list[str]
    values: dict[Cell, int]
    hidden: frozenset[Cell]

    def published(self, cell: Cell) -> int | None:
        return None if cell in self.hidden else self.values[cell]


def equations(rows: list[str], cols: list[str]) -> list[dict[Cell, int]]:
    """Each equation as {cell: coefficient}, summing to zero (a total is minus its parts)."""
    found: list[dict[Cell, int]] = []
    one_column = cols == [TOTAL]
    if one_column:
        found.append({**{(r, TOTAL): 1 for r in rows}, (TOTAL, TOTAL): -1})
        return found
    for r in [*rows, TOTAL]:
        found.append({**{(r, c): 1 for c in cols}, (r, TOTAL): -1})
    for c in [*cols, TOTAL]:
        found.append({**{(r, c): 1 for r in rows}, (TOTAL, c): -1})
    return found


def determined(hidden: set[Cell], system: list[dict[Cell, int]]) -> list[Cell]:
    """Hidden cells whose value follows from the published ones (exact Gaussian elimination)."""
    unknowns = sorted(hidden)
    index = {cell: i for i, cell in enumerate(unknowns)}
    matrix = [
        [Fraction(equation.get(cell, 0)) for cell in unknowns]
        for equation in system
        if any(cell in index for cell in equation)
    ]
    pivot_row = 0
    pivots: list[int] = []
    for column in range(len(unknowns)):
        chosen = next((i for i in range(pivot_row, len(matrix)) if matrix[i][column] != 0), None)
        if chosen is None:
            continue
        matrix[pivot_row], matrix[chosen] = matrix[chosen], matrix[pivot_row]
        lead = matrix[pivot_row][column]
        matrix[pivot_row] = [value / lead for value in matrix[pivot_row]]
        for i, row in enumerate(matrix):
            if i != pivot_row and row[column] != 0:
                factor = row[column]
                matrix[i] = [a - factor * b for a, b in zip(row, matrix[pivot_row], strict=True)]
        pivots.append(column)
        pivot_row += 1
    return [
        unknowns[column]
        for row_number, column in enumerate(pivots)
        if sum(1 for value in matrix[row_number] if value != 0) == 1
    ]


def _partners(
    cells: set[Cell], hidden: set[Cell], system: list[dict[Cell, int]], fixed: set[Cell]
) -> set[Cell]:
    return {
        other
        for equation in system
        if any(cell in equation for cell in cells)
        for other in equation
        if other not in hidden and other not in fixed
    }


def _protect(
    values: dict[Cell, int], hidden: set[Cell], system: list[dict[Cell, int]], fixed: set[Cell]
) -> frozenset[Cell]:
    """Hide more cells (never ``fixed`` ones) until no hidden cell is determined."""
    while True:
        exposed = set(determined(hidden, system))
        if not exposed:
            break
        # Hide another cell that shares an equation with an exposed one (else with any hidden
        # one): inner cells before totals, non-zero counts before zeros (a hidden zero protects
        # little), then small counts before large ones.
        candidates = _partners(exposed, hidden, system, fixed) or _partners(
            hidden, hidden, system, fixed
        )
        if not candidates:
            break
        hidden.add(
            min(candidates, key=lambda cell: (TOTAL in cell, values[cell] == 0, values[cell], cell))
        )
    return frozenset(hidden)


def _small(values: dict[Cell, int]) -> set[Cell]:
    return {cell for cell, value in values.items() if 0 < value < THRESHOLD}


def suppress(counts: dict[Cell, int], rows: list[str], cols: list[str] | None) -> Table:
    """The publishable table of ``counts`` (missing combinations count 0).

    A two-way table's margins are the one-way tables of its dimensions, which are published on
    their own too; so a margin is hidden exactly when its one-way table hides it, and secondary
    suppression hides inner cells only. Otherwise a margin hidden here could be read there.
    """
    if not cols:
        values = {(r, TOTAL): counts.get((r, TOTAL), 0) for r in rows}
        values[(TOTAL, TOTAL)] = sum(values.values())
        system = equations(rows, [TOTAL])
        hidden = _protect(values, _small(values), system, set())
        return Table(rows=rows, cols=[TOTAL], values=values, hidden=hidden)
    values = {(r, c): counts.get((r, c), 0) for r in rows for c in cols}
    row_margin = suppress({(r, TOTAL): sum(values[(r, c)] for c in cols) for r in rows}, rows, None)
    col_margin = suppress({(c, TOTAL): sum(values[(r, c)] for r in rows) for c in cols}, cols, None)
    margins: dict[Cell, int] = {}
    margin_hidden: set[Cell] = set()
    for (key, _), value in row_margin.values.items():
        margins[(key, TOTAL)] = value
        if (key, TOTAL) in row_margin.hidden:
            margin_hidden.add((key, TOTAL))
    for (key, _), value in col_margin.values.items():
        if key != TOTAL:
            margins[(TOTAL, key)] = value
            if (key, TOTAL) in col_margin.hidden:
                margin_hidden.add((TOTAL, key))
    values.update(margins)
    inner_small = {cell for cell in _small(values) if cell not in margins}
    hidden = _protect(values, inner_small | margin_hidden, equations(rows, cols), set(margins))
    return Table(rows=rows, cols=cols, values=values, hidden=hidden)
