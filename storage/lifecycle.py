"""The report lifecycle as a ``transitions`` machine: an illegal move is an error, not a warning.

``new → claimed → in_progress → referred → resolved → closed``, with ``release`` (claimed → new)
and ``reopen`` (resolved/closed → in_progress). Officers' actions are ``start``, ``refer``,
``resolve``, ``close`` and ``reopen``; ``claim`` and ``release`` have their own routes.
"""

from __future__ import annotations

from typing import Any

from transitions import Machine, MachineError

from storage.models import ReportStatus

ACTIONS = ("start", "refer", "resolve", "close", "reopen")
_MOVES: list[dict[str, Any]] = [
    {"trigger": "claim", "source": "new", "dest": "claimed"},
    {"trigger": "release", "source": "claimed", "dest": "new"},
    {"trigger": "start", "source": "claimed", "dest": "in_progress"},
    {"trigger": "refer", "source": ["claimed", "in_progress"], "dest": "referred"},
    {"trigger": "resolve", "source": ["claimed", "in_progress", "referred"], "dest": "resolved"},
    {"trigger": "close", "source": "resolved", "dest": "closed"},
    {"trigger": "reopen", "source": ["resolved", "closed"], "dest": "in_progress"},
]


class IllegalMove(Exception):
    def __init__(self, status: str, action: str, allowed: list[str]) -> None:
        super().__init__(f"cannot {action} a report that is {status}")
        self.status = status
        self.action = action
        self.allowed = allowed


class _Case:
    state: str


_MACHINE = Machine(
    model=None,
    states=[status.value for status in ReportStatus],
    transitions=_MOVES,
    initial=ReportStatus.new.value,
    auto_transitions=False,
)


def allowed_actions(status: str) -> list[str]:
    """The moves possible from ``status`` (``claim`` and ``release`` have their own routes)."""
    return list(_MACHINE.get_triggers(status))


def move(status: str, action: str) -> ReportStatus:
    """The status after ``action``; :class:`IllegalMove` (with the allowed actions) otherwise."""
    case = _Case()
    _MACHINE.add_model(case, initial=status)
    try:
        _MACHINE.events[action].trigger(case)
    except (MachineError, KeyError):
        raise IllegalMove(status, action, allowed_actions(status)) from None
    finally:
        _MACHINE.remove_model(case)
    return ReportStatus(case.state)
