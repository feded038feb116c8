"""The signed-in officer: their alert addresses, duty status and the officers' bot (CONTRACT §6)."""

from __future__ import annotations

from fastapi import APIRouter
from telegram.error import TelegramError

from api.errors import Refused
from api.runtime import Runtime
from api.schemas import DutyUpdate, OfficerMe, Problem, TelegramLink, errors
from api.security import CurrentOfficer, RuntimeDep
from storage import audit, officer_contacts
from storage.models import Agency, Officer, utcnow
from storage.triage import Scope

router = APIRouter(prefix="/me", tags=["me"])


def describe(caller: Scope, runtime: Runtime) -> OfficerMe:
    with runtime.database.unit() as session:
        officer = session.get(Officer, caller.officer_id)
        agency = session.get(Agency, caller.agency_id)
        contact = officer_contacts.contact_of(caller.officer_id, session=session)
    assert officer is not None
    assert agency is not None
    email = None
    if contact is not None and contact.email is not None:
        email = runtime.crypto.cipher.decrypt_text(contact.email)
    return OfficerMe(
        username=officer.username,
        agency=agency.code,
        role=str(officer.role),
        email=email,
        on_duty=contact is not None and contact.on_duty,
        telegram_linked=contact is not None and contact.telegram_key is not None,
    )


@router.get("", summary="Who I am, and how alerts reach me", responses=errors(401))
def read_me(caller: CurrentOfficer, runtime: RuntimeDep) -> OfficerMe:
    return describe(caller, runtime)


@router.put("/duty", summary="Go on or off duty (piket)", responses=errors(401, 422))
def set_duty(body: DutyUpdate, caller: CurrentOfficer, runtime: RuntimeDep) -> OfficerMe:
    now = utcnow()
    with runtime.database.unit() as session:
        officer_contacts.set_on_duty(caller.officer_id, body.on_duty, now, session=session)
        audit.record(
            "officer.duty",
            now,
            officer_id=caller.officer_id,
            detail={"on_duty": body.on_duty},
            session=session,
        )
    return describe(caller, runtime)


@router.post(
    "/telegram-link",
    summary="A one-time code (10 minutes) to link a chat with the officers' bot",
    responses={
        **errors(401),
        409: {"description": "the officers' bot is not configured", "model": Problem},
        503: {"description": "the Telegram Bot API does not answer", "model": Problem},
    },
)
def telegram_link(caller: CurrentOfficer, runtime: RuntimeDep) -> TelegramLink:
    return new_telegram_link(caller, runtime)


def new_telegram_link(caller: Scope, runtime: Runtime) -> TelegramLink:
    officer_bot = runtime.officer_bot
    if officer_bot is None:
        raise Refused(409, "the officers' Telegram bot is not configured here")
    try:
        # The bot's name first: a code is only issued when the link can be given with it.
        officer_bot.username()
    except TelegramError:
        raise Refused(503, "the Telegram Bot API does not answer; try again shortly") from None
    code = officer_bot.new_link_code(caller.officer_id)
    with runtime.database.unit() as session:
        audit.record(
            "officer.telegram_link", utcnow(), officer_id=caller.officer_id, session=session
        )
    return TelegramLink(code=code, link=officer_bot.link(code))
