"""The channels' webhooks (CONTRACT §3). A delivery is recorded before the 200 and processed once;
a request that fails its signature or secret is refused before anything is read or stored."""

from __future__ import annotations

import hmac
import json
import logging
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Header, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import SecretStr
from telegram import Bot, Update
from telegram.error import TelegramError

from api.runtime import Runtime
from api.security import RuntimeDep
from bot import whatsapp
from bot.telegram import TelegramEvent, event_of
from storage import outbox
from storage.models import Channel

log = logging.getLogger("lapor.webhooks")

router = APIRouter(prefix="/webhooks", tags=["webhooks"])

NOT_CONFIGURED = JSONResponse({"detail": "WhatsApp is not configured here"}, status_code=404)


@router.get(
    "/whatsapp",
    summary="Meta's verification handshake",
    response_class=PlainTextResponse,
    responses={403: {"description": "wrong verify token"}, 404: {"description": "WhatsApp off"}},
)
def whatsapp_handshake(
    runtime: RuntimeDep,
    mode: Annotated[str, Query(alias="hub.mode")] = "",
    token: Annotated[str, Query(alias="hub.verify_token")] = "",
    challenge: Annotated[str, Query(alias="hub.challenge", max_length=200)] = "",
) -> Response:
    expected = runtime.settings.whatsapp_verify_token
    if runtime.settings.whatsapp_app_secret is None or expected is None:
        return NOT_CONFIGURED
    if mode == "subscribe" and hmac.compare_digest(
        token.encode(), expected.get_secret_value().encode()
    ):
        return PlainTextResponse(challenge)
    return JSONResponse({"detail": "verification failed"}, status_code=403)


@router.post(
    "/whatsapp",
    summary="Meta's notifications: messages and delivery receipts",
    responses={
        400: {"description": "the body is not JSON"},
        401: {"description": "missing or wrong X-Hub-Signature-256"},
        404: {"description": "WhatsApp off"},
    },
)
async def whatsapp_notification(
    request: Request,
    runtime: RuntimeDep,
    signature: Annotated[str | None, Header(alias="X-Hub-Signature-256")] = None,
) -> JSONResponse:
    secret = runtime.settings.whatsapp_app_secret
    if secret is None:
        return NOT_CONFIGURED
    raw = await request.body()
    if not whatsapp.signature_ok(secret.get_secret_value(), raw, signature):
        return JSONResponse({"detail": "signature does not match"}, status_code=401)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return JSONResponse({"detail": "the body is not JSON"}, status_code=400)
    notification = whatsapp.parse_notification(payload)
    # Each message is recorded and processed in one transaction (a failed turn is recorded on
    # its own); only when all are durable does the platform get its 200, so nothing can be
    # lost. Awaited one after the other: a reporter's messages are taken in their order.
    for message in notification.messages:
        await runtime.inbox.take(message)
    if notification.statuses:
        await run_in_threadpool(_take_receipts, runtime, notification)
    return JSONResponse({"status": "ok"})


def _take_receipts(runtime: Runtime, notification: whatsapp.Notification) -> None:
    if notification.statuses:
        hasher = runtime.crypto.hasher
        with runtime.database.unit() as session:
            for status in notification.statuses:
                outbox.record_receipt(
                    hasher.delivery_key("whatsapp-out", status.message_id),
                    status.status,
                    status.error_code,
                    session=session,
                )


@router.post(
    "/telegram",
    summary="One Telegram update",
    responses={
        400: {"description": "not a Telegram update"},
        401: {"description": "missing or wrong X-Telegram-Bot-Api-Secret-Token"},
        404: {"description": "Telegram webhook off"},
    },
)
async def telegram_update(
    request: Request,
    runtime: RuntimeDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    background = BackgroundTasks()
    expected = runtime.settings.telegram_webhook_secret
    transport = runtime.telegram
    if transport is None or expected is None:
        return JSONResponse({"detail": "the Telegram webhook is not configured here"}, 404)
    if not _secret_matches(secret, expected):
        return JSONResponse({"detail": "secret token does not match"}, status_code=401)
    event = read_update(await request.body(), transport.bot)
    if event is None:
        return JSONResponse({"detail": "not a Telegram update"}, status_code=400)
    if event.blocked_identity is not None:
        await run_in_threadpool(
            runtime.inbox.stop_sending, Channel.telegram, event.blocked_identity
        )
    if event.message is not None:
        await runtime.inbox.take(event.message)
        if event.callback_query_id is not None:
            # The turn is durable: the button is acknowledged after, and the 200 does not wait
            # for it (nor does a thread: the transport's loop makes the call on its own).
            background.add_task(transport.answer, event.callback_query_id)
    return JSONResponse({}, background=background)


def _secret_matches(given: str | None, expected: SecretStr) -> bool:
    return bool(given) and hmac.compare_digest(
        str(given).encode(), expected.get_secret_value().encode()
    )


@router.post(
    "/telegram-officers",
    summary="One update for the officers' bot (linking chats for alerts)",
    responses={
        400: {"description": "not a Telegram update"},
        401: {"description": "missing or wrong X-Telegram-Bot-Api-Secret-Token"},
        404: {"description": "the officers' bot webhook is off"},
    },
)
async def officer_telegram_update(
    request: Request,
    runtime: RuntimeDep,
    secret: Annotated[str | None, Header(alias="X-Telegram-Bot-Api-Secret-Token")] = None,
) -> JSONResponse:
    settings = runtime.settings
    expected = settings.officer_telegram_webhook_secret
    officer_bot = runtime.officer_bot
    if officer_bot is None or expected is None or settings.officer_telegram_mode != "webhook":
        return JSONResponse({"detail": "the officers' bot webhook is not configured here"}, 404)
    if not _secret_matches(secret, expected):
        return JSONResponse({"detail": "secret token does not match"}, status_code=401)
    try:
        update = Update.de_json(json.loads(await request.body()), officer_bot.transport.bot)
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, TelegramError):
        return JSONResponse({"detail": "not a Telegram update"}, status_code=400)
    await run_in_threadpool(officer_bot.take, update)
    return JSONResponse({})


def read_update(body: bytes, bot: Bot | None) -> TelegramEvent | None:
    """What one Telegram update asks of us; ``None`` when the body is not an update. PTB does
    not check that an update's required parts are there (a ``my_chat_member`` without
    ``new_chat_member``), so such an update only fails when read: it is refused like bad JSON.
    A date or duration too large for Python's datetime overflows inside PTB: refused too."""
    try:
        return event_of(Update.de_json(json.loads(body), bot))
    except (ValueError, TypeError, KeyError, AttributeError, OverflowError, TelegramError):
        return None


def take_telegram_event(runtime: Runtime, event: TelegramEvent) -> None:
    """Record and run the turn, then acknowledge the button (also used by polling mode)."""
    inbox = runtime.inbox
    if event.blocked_identity is not None:
        inbox.stop_sending(Channel.telegram, event.blocked_identity)
    if event.message is None:
        return
    inbox.handle(event.message)
    if event.callback_query_id is not None and runtime.telegram is not None:
        runtime.telegram.answer(event.callback_query_id)
