"""Small-cell suppression, checked against an independent oracle: numpy's matrix rank decides
whether a hidden cell's value follows from the published cells and totals."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from api.suppression import THRESHOLD, TOTAL, Cell, Table, suppress

# Counts with many small cells and zeros, as real tables by regency or month have.
COUNT = st.one_of(st.integers(0, 12), st.integers(0, 60))
KEYS = st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True)


def sum_equations(table: Table) -> list[dict[Cell, int]]:
    """Every published total's equation, written here from the table's layout."""
    rows, cols = table.rows, table.cols
    if cols == [TOTAL]:
        return [{**{(r, TOTAL): 1 for r in rows}, (TOTAL, TOTAL): -1}]
    found = [{**{(r, c): 1 for c in cols}, (r, TOTAL): -1} for r in [*rows, TOTAL]]
    found += [{**{(r, c): 1 for r in rows}, (TOTAL, c): -1} for c in [*cols, TOTAL]]
    return found


def recoverable(table: Table) -> list[Cell]:
    """Hidden cells whose unit vector lies in the row space of the equations on hidden cells."""
    hidden = sorted(table.hidden)
    if not hidden:
        return []
    matrix = np.array(
        [[equation.get(cell, 0) for cell in hidden] for equation in sum_equations(table)],
        dtype=float,
    )
    rank = np.linalg.matrix_rank(matrix)
    found = []
    for i, cell in enumerate(hidden):
        unit = np.zeros(len(hidden))
        unit[i] = 1
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            found.append(cell)
    return found


def check(table: Table) -> None:
    for cell, value in table.values.items():
        published = table.published(cell)
        assert published is None or not 0 < published < THRESHOLD, (cell, value)
        assert published in (None, value)
    assert recoverable(table) == []


@settings(max_examples=300, deadline=None)
@given(rows=KEYS, data=st.data())
def test_a_one_way_table_publishes_no_small_count_and_no_recoverable_one(
    rows: list[str], data: st.DataObject
) -> None:
    counts = {(r, TOTAL): data.draw(COUNT) for r in rows}
    check(suppress(counts, rows, None))


@settings(max_examples=300, deadline=None)
@given(
    rows=KEYS,
    cols=st.lists(st.sampled_from("pqrstu"), min_size=2, max_size=5, unique=True),
    data=st.data(),
)
def test_a_two_way_table_publishes_no_small_count_and_no_recoverable_one(
    rows: list[str], cols: list[str], data: st.DataObject
) -> None:
    counts = {(r, c): data.draw(COUNT) for r in rows for c in cols}
    table = suppress(counts, rows, cols)
    check(table)
    # Its margins are hidden exactly as the one-way tables published beside it hide them.
    by_row = suppress({(r, TOTAL): table.values[(r, TOTAL)] for r in rows}, rows, None)
    by_col = suppress({(c, TOTAL): table.values[(TOTAL, c)] for c in cols}, cols, None)
    for r in rows:
        assert table.published((r, TOTAL)) == by_row.published((r, TOTAL))
    for c in cols:
        assert table.published((TOTAL, c)) == by_col.published((c, TOTAL))
    assert table.published((TOTAL, TOTAL)) == by_row.published((TOTAL, TOTAL))


def test_a_lone_small_cell_takes_a_partner_with_it() -> None:
    table = suppress({("a", TOTAL): 4, ("b", TOTAL): 30, ("c", TOTAL): 50}, ["a", "b", "c"], None)
    assert table.hidden == {("a", TOTAL), ("b", TOTAL)}
    assert table.published((TOTAL, TOTAL)) == 84


def test_the_oracle_sees_through_a_lone_hidden_cell() -> None:
    values = {("a", TOTAL): 4, ("b", TOTAL): 30, (TOTAL, TOTAL): 34}
    leaky = Table(rows=["a", "b"], cols=[TOTAL], values=values, hidden=frozenset({("a", TOTAL)}))
    assert recoverable(leaky) == [("a", TOTAL)]
