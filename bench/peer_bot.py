"""The peer of ``bench/peer_bench.py``: the report flow as a plain python-telegram-bot bot, the
way PTB's examples build one. A ``ConversationHandler`` with one state per step of the flow
(CONTRACT §4), state and answers in memory (no persistence), and webhook mode in the pattern of
PTB's ``customwebhookbot`` example: a Starlette app served by uvicorn, with no PTB ``Updater``.

Each button tap (a ``callback_query``) is answered (``answerCallbackQuery``) and its message is
edited to the next question with the next step's buttons (``editMessageText``), both through
the Bot API at ``PEER_API_URL``, before the webhook answers 200: the route awaits
``application.process_update(update)`` instead of putting the update on
``application.update_queue``. So a 200 means the same as ``lapor serve``'s (the update has been
handled), a load generator that waits for the 200 cannot pile up a queue the bot has not worked
through, and the rate measured is the rate of handled updates. Updates of different chats are then
handled concurrently; ``ConversationHandler`` needs one chat's updates one at a time, which the
benchmark guarantees (each chat's next update is sent only after the 200 of its previous one).

Run: ``PEER_TOKEN=… PEER_API_URL=http://127.0.0.1:PORT/bot PEER_SECRET=… python -m uvicorn
--app-dir bench --factory peer_bot:create_app``; the webhook is ``POST /webhooks/telegram`` with the
``X-Telegram-Bot-Api-Secret-Token`` header, like ``lapor serve``'s. ``PEER_POOL=N`` keeps N
connections to the Bot API instead of PTB's 256: with many updates in flight, httpx checks every
open connection on each request (a quarter of the peer's CPU at 64 in flight), so a small pool
makes a faster peer.
"""

from __future__ import annotations

import hmac
import os
import secrets
import warnings
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    ConversationHandler,
)
from telegram.warnings import PTBUserWarning

# The flow's steps and their options (CONTRACT §4), and where each answer leads: the step's
# next one unless ``BRANCHES`` says otherwise. ``province`` and ``regency`` also take the region
# choices a typed name brings (``province:<code>``), which this peer accepts as is.
STEPS: dict[str, tuple[tuple[str, ...], str]] = {
    "welcome": (("start", "emergency", "status", "language"), "welcome"),
    "danger": (("yes", "no"), "consent"),
    "consent": (("agree", "decline"), "reporter"),
    "reporter": (("self", "parent", "family_friend", "witness"), "victim_age"),
    "victim_age": (("child", "adult", "unknown"), "victim_gender"),
    "victim_gender": (("female", "male", "skip"), "category"),
    "category": (
        (
            "sexual",
            "physical",
            "psychological",
            "neglect",
            "online",
            "child_marriage",
            "trafficking",
            "other",
        ),
        "ongoing",
    ),
    "ongoing": (("yes", "no", "unsure"), "when"),
    "when": (("today", "this_week", "this_month", "earlier"), "province"),
    "province": (("skip",), "place"),
    "regency": (("skip",), "place"),
    "place": (("home", "school", "workplace", "public", "online", "other"), "perpetrator"),
    "perpetrator": (
        ("family", "partner", "caregiver_teacher", "known", "stranger", "skip"),
        "story",
    ),
    "lives_with": (("yes", "no", "unsure"), "story"),
    "story": (("done", "skip"), "evidence"),
    "evidence": (("done", "skip"), "needs"),
    "needs": (("safety", "medical", "counselling", "legal", "police", "economic", "done"), "needs"),
    "contact": (("anonymous", "chat", "phone"), "review"),
    "phone": (("cancel",), "contact"),
    "review": (("submit", "edit", "discard"), "review"),
    "submitted": (("status", "emergency"), "submitted"),
}
END = "end"
BRANCHES: dict[tuple[str, str], str] = {
    ("welcome", "start"): "danger",
    ("consent", "decline"): END,
    ("perpetrator", "family"): "lives_with",
    ("perpetrator", "partner"): "lives_with",
    ("perpetrator", "caregiver_teacher"): "lives_with",
    ("needs", "done"): "contact",
    ("contact", "phone"): "phone",
    ("review", "submit"): "submitted",
    ("review", "discard"): END,
}
TEXTS: dict[str, str] = yaml.safe_load(
    (Path(__file__).resolve().parent.parent / "flows/definitions/texts.id.yaml").read_text()
)


def next_step(step: str, option: str) -> str:
    if step in ("province", "regency") and option != "skip":
        return "regency" if step == "province" else "place"
    return BRANCHES.get((step, option), STEPS[step][1])


def question(step: str) -> str:
    """The step's question in Indonesian, in lapor's own words (the reporter's own variant)."""
    text = TEXTS.get(step) or TEXTS.get(f"{step}@self") or step
    return text.replace("{receipt}", secrets.token_hex(8).upper())


def buttons(step: str) -> InlineKeyboardMarkup:
    """One button a row, ``callback_data`` the ``STEP:OPTION`` id, as lapor's keyboards."""
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(TEXTS.get(f"{step}.{option}", option), callback_data=choice)]
            for option in STEPS[step][0]
            for choice in (f"{step}:{option}",)
        ]
    )


Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, object]]


def answering(step: str) -> Handler:
    """The handler of ``step``'s buttons: keep the answer, acknowledge the tap, ask the next."""

    async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> object:
        query = update.callback_query
        assert query is not None
        assert isinstance(query.data, str)
        option = query.data.partition(":")[2]
        answers = context.user_data if context.user_data is not None else {}
        if step == "needs" and option != "done":
            answers.setdefault("needs", set()).symmetric_difference_update({option})
        else:
            answers[step] = option
        await query.answer()
        following = next_step(step, option)
        if following == END:
            answers.clear()
            await query.edit_message_text(TEXTS["consent.declined"])
            return ConversationHandler.END
        await query.edit_message_text(question(following), reply_markup=buttons(following))
        return following

    return handle


def build_application(
    token: str, api_url: str, pool: int | None = None
) -> Application[Any, Any, Any, Any, Any, Any]:
    """PTB's defaults, but for ``pool``: the Bot API connections to keep (PTB's builder: 256)."""
    builder = Application.builder().token(token).base_url(api_url).updater(None)
    if pool is not None:
        builder = builder.connection_pool_size(pool)
    application = builder.build()
    with warnings.catch_warnings():
        # PTB warns that with per_message=False a CallbackQueryHandler is tracked per chat, not
        # per message: per chat is what this flow wants (one question at a time).
        warnings.simplefilter("ignore", PTBUserWarning)
        conversation = ConversationHandler(
            entry_points=[CallbackQueryHandler(answering("welcome"), pattern="^welcome:")],
            states={
                step: [CallbackQueryHandler(answering(step), pattern=f"^{step}:")] for step in STEPS
            },
            fallbacks=[],
        )
    application.add_handler(conversation)
    return application


def create_app() -> Starlette:
    pool = os.environ.get("PEER_POOL")
    application = build_application(
        os.environ["PEER_TOKEN"], os.environ["PEER_API_URL"], int(pool) if pool else None
    )
    secret = os.environ["PEER_SECRET"].encode()

    async def telegram(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, secret):
            return JSONResponse({"detail": "secret token does not match"}, status_code=401)
        update = Update.de_json(await request.json(), application.bot)
        await application.process_update(update)
        return Response()

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        async with application:  # initialize (getMe) and, at the end, shutdown
            yield

    return Starlette(
        routes=[
            Route("/webhooks/telegram", telegram, methods=["POST"]),
            Route("/healthz", healthz),
        ],
        lifespan=lifespan,
    )
