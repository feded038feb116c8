"""Lifecycles as ``transitions`` machines: an illegal move is an error, not a warning.

Reports: ``new → claimed → in_progress → referred → resolved → closed``, with ``release``
(claimed → new) and ``reopen`` (resolved/closed → in_progress). Officers' actions are ``start``,
``refer``, ``resolve``, ``close`` and ``reopen``; ``claim`` and ``release`` have their own routes.
Referrals (:mod:`storage.referrals`) have a machine of their own built the same way.
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
    def __init__(self, status: str, action: str, allowed: list[str], thing: str = "report") -> None:
        super().__init__(f"cannot {action} a {thing} that is {status}")
        self.status = status
        self.action = action
        self.allowed = allowed


class _Case:
    state: str


class Lifecycle:
    """One machine, built once; a throwaway model is attached for one move and detached."""

    def __init__(self, thing: str, states: list[str], moves: list[dict[str, Any]]) -> None:
        self.thing = thing
        self._machine = Machine(
            model=None, states=states, transitions=moves, initial=states[0], auto_transitions=False
        )

    def allowed(self, status: str) -> list[str]:
        return list(self._machine.get_triggers(status))

    def move(self, status: str, action: str) -> str:
        """The status after ``action``; :class:`IllegalMove` (the allowed actions) otherwise."""
        case = _Case()
        self._machine.add_model(case, initial=status)
        try:
            self._machine.events[action].trigger(case)
        except (MachineError, KeyError):
            raise IllegalMove(status, action, self.allowed(status), self.thing) from None
        finally:
            self._machine.remove_model(case)
        return case.state


REPORTS = Lifecycle("report", [status.value for status in ReportStatus], _MOVES)


def allowed_actions(status: str) -> list[str]:
    """The moves possible from ``status`` (``claim`` and ``release`` have their own routes)."""
    return REPORTS.allowed(status)


def move(status: str, action: str) -> ReportStatus:
    """The status after ``action``; :class:`IllegalMove` (with the allowed actions) otherwise."""
    return ReportStatus(REPORTS.move(status, action))
