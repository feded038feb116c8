"""Referrals: a report handed to a service, at an agency in the system (which answers it) or at an
organisation outside it (free text, whose answer the referring agency records).

States: ``pending → accepted | declined | revoked``, ``accepted → done | revoked``, on a
``transitions`` machine like the report's, so a forbidden move is :class:`IllegalMove`. Answers
lock the referral's row first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite's units of work take
the write lock at BEGIN), so of two officers accepting at once one wins and the other is refused.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import sqlalchemy as sa
from sqlmodel import Session, col, select

from storage import agencies, alerts
from storage.lifecycle import Lifecycle, allowed_actions
from storage.models import (
    Agency,
    AlertKind,
    EventKind,
    Referral,
    ReferralStatus,
    Report,
    Service,
)
from storage.triage import Scope, add_event, transition

# Which of the reporter's "needs" answers covers a referral to each service (CONTRACT §7).
CONSENT_FOR_SERVICE = {
    Service.psychosocial: "counselling",
    Service.rehabilitation: "counselling",
    Service.medical: "medical",
    Service.legal: "legal",
    Service.shelter: "safety",
    Service.police: "police",
    Service.economic: "economic",
}
Action = Literal["accept", "decline", "done", "revoke"]
# What the other agency's supervisors hear of each move (the receiving side answers, the
# referring side revokes).
ALERT_OF_ACTION: dict[str, AlertKind] = {
    "accept": AlertKind.referral_accepted,
    "decline": AlertKind.referral_declined,
    "done": AlertKind.referral_done,
    "revoke": AlertKind.referral_revoked,
}
TO_REFERRING_AGENCY = frozenset(
    {AlertKind.referral_accepted, AlertKind.referral_declined, AlertKind.referral_done}
)
Direction = Literal["incoming", "outgoing"]
LIFECYCLE = Lifecycle(
    "referral",
    [status.value for status in ReferralStatus],
    [
        {"trigger": "accept", "source": "pending", "dest": "accepted"},
        {"trigger": "decline", "source": "pending", "dest": "declined"},
        {"trigger": "revoke", "source": ["pending", "accepted"], "dest": "revoked"},
        {"trigger": "done", "source": "accepted", "dest": "done"},
    ],
)


class NoConsent(Exception):
    """The reporter's answers do not cover this referral."""


class NotOffered(Exception):
    """The agency cannot take this referral (it does not offer the service, or is the sender)."""


class WrongSide(Exception):
    """The other agency of the referral makes this move."""


def services_consented(needs: list[str]) -> list[Service]:
    """The services the reporter's answers allow a referral to."""
    return [service for service, need in CONSENT_FOR_SERVICE.items() if need in needs]


def create_referral(
    report: Report,
    service: Service,
    *,
    agency: Agency | None,
    organisation: str | None,
    note: bytes | None,
    scope: Scope,
    now: datetime,
    session: Session,
) -> Referral:
    """Refer ``report`` to ``agency`` (or an outside ``organisation``), after checking the
    reporter's consent and what the agency offers; on the timeline, and a first referral moves
    the report to ``referred``."""
    need = CONSENT_FOR_SERVICE[service]
    if need not in (report.needs or []):
        asked = ", ".join(report.needs or []) or "nothing"
        raise NoConsent(
            f"the reporter did not ask for {need} (asked for: {asked}); "
            f"a referral to {service} needs their consent"
        )
    detail = {"service": str(service)}
    if agency is not None:
        assert agency.id is not None
        if agency.id == scope.agency_id:
            raise NotOffered(f"{agency.code} is your own agency; a referral goes to another one")
        if not agencies.offers(agency.id, service, session=session):
            raise NotOffered(f"{agency.code} does not offer {service}; choose one that does")
        detail["agency"] = agency.code
    else:
        detail["organisation"] = (organisation or "")[:200]
    referral = Referral(
        report_id=report.id,
        service=service,
        from_agency_id=scope.agency_id,
        to_agency_id=agency.id if agency is not None else None,
        organisation=None if agency is not None else (organisation or "")[:200],
        note=note,
        created_by=scope.officer_id,
        created_at=now,
        updated_at=now,
    )
    session.add(referral)
    session.flush()
    detail["referral"] = referral.id
    add_event(
        report,
        EventKind.referral,
        now,
        officer_id=scope.officer_id,
        detail=detail,
        text=note,
        session=session,
    )
    # A first referral moves the case to "referred"; later ones (or one after resolving) do not.
    if "refer" in allowed_actions(report.status):
        transition(report, "refer", scope, now, None, session=session)
    alert_other_side(referral, AlertKind.referral_new, now, session=session)
    return referral


def alert_other_side(
    referral: Referral, kind: AlertKind, now: datetime, *, session: Session
) -> int:
    """Queue alerts of a referral's change for the other agency's supervisors, in the change's
    transaction (CONTRACT §6 channels and content rules); none for an organisation outside."""
    if referral.to_agency_id is None:
        return 0
    other = referral.from_agency_id if kind in TO_REFERRING_AGENCY else referral.to_agency_id
    return alerts.queue_agency_alerts(
        other, referral.report_id, kind, now, supervisors_only=True, session=session
    )


def _involves(scope: Scope) -> sa.ColumnElement[bool]:
    if scope.everything:
        return sa.true()
    return sa.or_(
        col(Referral.from_agency_id) == scope.agency_id,
        col(Referral.to_agency_id) == scope.agency_id,
    )


def get_referral(
    referral_id: str, scope: Scope, *, session: Session, lock: bool = False
) -> Referral | None:
    """The referral, if the officer's agency sent or received it (admins: any)."""
    statement = select(Referral).where(Referral.id == referral_id, _involves(scope))
    if lock:
        statement = statement.with_for_update()
    return session.exec(statement).first()


def list_referrals(
    scope: Scope,
    *,
    direction: Direction,
    status: ReferralStatus | None,
    report_id: str | None = None,
    limit: int,
    session: Session,
) -> list[Referral]:
    """The agency's referrals, newest first; incoming ones pending first."""
    side = Referral.to_agency_id if direction == "incoming" else Referral.from_agency_id
    statement = select(Referral).where(col(side) == scope.agency_id).limit(limit)
    if status is not None:
        statement = statement.where(Referral.status == status)
    if report_id is not None:
        statement = statement.where(Referral.report_id == report_id)
    if direction == "incoming":
        waiting = sa.case((col(Referral.status) == ReferralStatus.pending, 0), else_=1)
        statement = statement.order_by(waiting)
    statement = statement.order_by(col(Referral.created_at).desc(), col(Referral.id))
    return list(session.exec(statement).all())


def acting_agency(referral: Referral, action: str) -> int:
    """Who makes ``action``: the referring agency revokes; the receiving agency answers (for an
    organisation outside the system, the referring agency records its answer)."""
    if action == "revoke" or referral.to_agency_id is None:
        return referral.from_agency_id
    return referral.to_agency_id


def answer(
    referral: Referral,
    report: Report,
    action: Action,
    *,
    text: bytes | None,
    scope: Scope,
    now: datetime,
    session: Session,
) -> Referral:
    """Move the (locked) referral; ``text`` is the reason for declining or the outcome."""
    if acting_agency(referral, action) != scope.agency_id and not scope.everything:
        side = "referring" if action == "revoke" else "receiving"
        raise WrongSide(f"only the {side} agency may {action} this referral")
    before = referral.status
    referral.status = ReferralStatus(LIFECYCLE.move(referral.status, action))
    referral.updated_at = now
    if action == "decline":
        referral.reason = text
    elif action == "done":
        referral.outcome = text
    if action != "revoke":
        referral.answered_by = scope.officer_id
    session.add(referral)
    add_event(
        report,
        EventKind.referral_update,
        now,
        officer_id=scope.officer_id,
        detail={
            "referral": referral.id,
            "service": str(referral.service),
            "action": action,
            "from": str(before),
            "to": str(referral.status),
        },
        text=text,
        session=session,
    )
    alert_other_side(referral, ALERT_OF_ACTION[action], now, session=session)
    return referral


def pending_too_long(now: datetime, hours: float, *, session: Session) -> list[Referral]:
    """Referrals to agencies in the system still pending after ``hours``, oldest first: the
    receiving agency's supervisors are to hear of them (CONTRACT §7)."""
    statement = (
        select(Referral)
        .where(
            Referral.status == ReferralStatus.pending,
            col(Referral.to_agency_id).is_not(None),
            col(Referral.created_at) < now - timedelta(hours=hours),
        )
        .order_by(col(Referral.created_at))
    )
    return list(session.exec(statement).all())


def overdue(referral: Referral, now: datetime, hours: float) -> bool:
    """One referral as :func:`pending_too_long` finds them."""
    waiting = referral.status == ReferralStatus.pending and referral.to_agency_id is not None
    return waiting and referral.created_at < now - timedelta(hours=hours)


def help_arranged(report_id: str, *, session: Session) -> list[dict[str, str]]:
    """What the reporter sees at ``status``: each service referred to and its state, oldest
    first, never an agency's name. A revoked referral was withdrawn before it helped: not shown."""
    statement = (
        select(Referral.service, Referral.status)
        .where(Referral.report_id == report_id, Referral.status != ReferralStatus.revoked)
        .order_by(col(Referral.created_at), col(Referral.id))
    )
    return [{"service": str(s), "status": str(t)} for s, t in session.execute(statement).all()]
