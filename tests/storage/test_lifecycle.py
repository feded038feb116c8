"""The report lifecycle (DESIGN): every move checked against the table written out here."""

from __future__ import annotations

import pytest

from storage.lifecycle import ACTIONS, IllegalMove, allowed_actions, move
from storage.models import ReportStatus

# DESIGN: new → claimed → in_progress → referred → resolved → closed, release (claimed → new),
# reopen (resolved/closed → in_progress). Officers may also refer or resolve straight from a claim.
EXPECTED = {
    ("new", "claim"): "claimed",
    ("claimed", "release"): "new",
    ("claimed", "start"): "in_progress",
    ("claimed", "refer"): "referred",
    ("in_progress", "refer"): "referred",
    ("claimed", "resolve"): "resolved",
    ("in_progress", "resolve"): "resolved",
    ("referred", "resolve"): "resolved",
    ("resolved", "close"): "closed",
    ("resolved", "reopen"): "in_progress",
    ("closed", "reopen"): "in_progress",
}
STATUSES = [status.value for status in ReportStatus]
EVERY_ACTION = [*ACTIONS, "claim", "release", "fly"]


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", EVERY_ACTION)
def test_each_move_is_allowed_exactly_as_designed(status: str, action: str) -> None:
    expected = EXPECTED.get((status, action))
    if expected is None:
        with pytest.raises(IllegalMove) as refused:
            move(status, action)
        assert refused.value.allowed == allowed_actions(status)
    else:
        assert move(status, action) == expected


def test_the_allowed_list_is_what_an_officer_can_do_next() -> None:
    assert allowed_actions("new") == ["claim"]
    assert allowed_actions("claimed") == ["release", "start", "refer", "resolve"]
    assert allowed_actions("closed") == ["reopen"]
