"""Telegram through python-telegram-bot: updates into channel-neutral messages, and a transport
that sends the outbox with PTB's ``Bot`` (PROTOCOLS §2-3).

Conversation state lives in the project's database (the inbox), not in PTB's ConversationHandler,
so any number of processes can serve one bot. PTB parses updates, talks to the Bot API (any
``base_url``: a self-hosted Bot API server, or the tests' fake), and polls in polling mode.
"""

from __future__ import annotations

import os

# PTB 22 deprecates ``RetryAfter.retry_after`` as seconds in favour of a timedelta; opt in now.
os.environ.setdefault("PTB_TIMEDELTA", "1")

import asyncio
import contextlib
import mimetypes
import threading
import time
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, RequestData

from bot.media import TooLarge, Unavailable
from bot.messages import EDITED, RESUME, InboundMessage, OutboundMessage
from bot.sender import (
    CONNECT_SECONDS,
    READ_SECONDS,
    Budget,
    Outcome,
    RateLimiter,
    Result,
    platform_pool,
)
from bot.whatsapp import split_text
from flows.types import InputKind, UserInput
from storage.models import Channel

TEXT_LIMIT = 4096
CALLBACK_DATA_BYTES = 64
PER_CHAT_SECONDS = 1.0  # Telegram: about one message a second in one chat
OVERALL_RATE = 30.0  # and about thirty a second overall
BLOCKED = "blocked"
PACED_CHATS = 4096
DELETE_BATCH = 100  # deleteMessages takes 1-100 ids

T = TypeVar("T")


@dataclass(frozen=True)
class TelegramEvent:
    """What one update asks of us: a message for the inbox (an edit is one too, answered with a
    short note), a button press to acknowledge, or a reporter who blocked the bot."""

    message: InboundMessage | None = None
    callback_query_id: str | None = None
    blocked_identity: str | None = None


def event_of(update: Update) -> TelegramEvent:
    delivery = str(update.update_id)
    if update.callback_query is not None:
        query = update.callback_query
        chat = query.message.chat if query.message is not None else None
        sender = str(query.from_user.id)
        choice = query.data if isinstance(query.data, str) else ""
        pressed = InboundMessage(
            channel=Channel.telegram,
            delivery_id=delivery,
            identity=sender,
            address=str(chat.id) if chat is not None else sender,
            input=UserInput.pressed(choice) if choice else UserInput(InputKind.unsupported),
        )
        return TelegramEvent(message=pressed, callback_query_id=query.id)
    if update.my_chat_member is not None:
        member = update.my_chat_member
        if member.new_chat_member.status == "kicked":
            return TelegramEvent(blocked_identity=str(member.from_user.id))
        return TelegramEvent()
    if update.edited_message is not None and update.edited_message.from_user is not None:
        edited = update.edited_message
        assert edited.from_user is not None
        note = InboundMessage(
            channel=Channel.telegram,
            delivery_id=delivery,
            identity=str(edited.from_user.id),
            address=str(edited.chat.id),
            input=UserInput(InputKind.event, event=EDITED),
        )
        return TelegramEvent(message=note)
    message = update.message
    if message is None or message.from_user is None or message.chat.type != "private":
        return TelegramEvent()  # channel posts, groups, service messages: not for this bot
    return TelegramEvent(
        message=InboundMessage(
            channel=Channel.telegram,
            delivery_id=delivery,
            identity=str(message.from_user.id),
            address=str(message.chat.id),
            input=_input(message),
            message_id=message.message_id,
        )
    )


def _input(message: Message) -> UserInput:
    if message.text:
        if message.text.strip().lower().split("@")[0] == "/start":
            return UserInput(InputKind.event, event=RESUME)
        return UserInput.typed(message.text)
    media: tuple[str, Any] | None = None
    if message.photo:
        media = ("photo", message.photo[-1])  # the largest size
    elif message.voice is not None:
        media = ("voice", message.voice)
    elif message.audio is not None:
        media = ("audio", message.audio)
    elif message.video is not None:
        media = ("video", message.video)
    elif message.document is not None:
        media = ("document", message.document)
    if media is None:
        # Stickers, locations, contacts, polls, dice: say what the bot can read.
        return UserInput(InputKind.unsupported)
    kind, item = media
    # Captions and file names are the reporter's words or names: not kept.
    data = {
        "file_id": item.file_id,
        "mime_type": str(getattr(item, "mime_type", "") or "")[:100],
        "size": int(getattr(item, "file_size", 0) or 0),
    }
    return UserInput(InputKind.media, media_kind=kind, data=data)


def keyboard(choices: tuple[tuple[str, str], ...]) -> InlineKeyboardMarkup | None:
    """One button a row; ``callback_data`` is the ``STEP:OPTION`` id (at most 64 bytes)."""
    rows = [
        [InlineKeyboardButton(label, callback_data=choice_id)]
        for choice_id, label in choices
        if len(choice_id.encode()) <= CALLBACK_DATA_BYTES
    ]
    return InlineKeyboardMarkup(rows) if rows else None


class DirectRequest(BaseRequest):
    """PTB's Bot API requests made with urllib3 in the calling thread, for the sender's ``Bot``.

    Its ``do_request`` never suspends, so a PTB call through it runs to its end in the thread
    that makes it (``finish``), without an event loop: PTB still builds each request and reads
    each answer (its types, its errors), only the bytes move otherwise. Measured under the peer
    benchmark, the Bot API calls through httpx's async client in an event loop of their own were
    three fifths of ``lapor serve``'s CPU (urllib3 spends half of httpx's CPU on a small POST, and
    there is no loop to go through). No retries of its own: the outbox retries."""

    def __init__(self, connections: int) -> None:
        self.http = platform_pool(connections)

    @property
    def read_timeout(self) -> float:
        return READ_SECONDS

    async def initialize(self) -> None:
        return

    async def shutdown(self) -> None:
        self.http.clear()

    async def do_request(  # noqa: PLR0917 (PTB's signature)
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = BaseRequest.DEFAULT_NONE,
        write_timeout: object = BaseRequest.DEFAULT_NONE,
        connect_timeout: object = BaseRequest.DEFAULT_NONE,
        pool_timeout: object = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        timeout = urllib3.Timeout(
            connect=_seconds(connect_timeout, CONNECT_SECONDS),
            read=_seconds(read_timeout, READ_SECONDS),
        )
        if request_data is not None and request_data.contains_files:
            raise BadRequest("the sender's bot uploads no files")
        headers = {"User-Agent": self.USER_AGENT}
        body = None
        if request_data is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = request_data.url_encoded_parameters()
        try:
            response = self.http.request(method, url, body=body, headers=headers, timeout=timeout)
        except urllib3.exceptions.TimeoutError as exc:
            raise TimedOut from exc
        except urllib3.exceptions.HTTPError as exc:
            raise NetworkError(f"urllib3.{type(exc).__name__}: {exc}") from exc
        return response.status, response.data


def _seconds(given: object, default: float) -> float | None:
    """A timeout a PTB call gave (``None``: none), else ours."""
    if given is None or isinstance(given, int | float):
        return given
    return default


def finish(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a PTB call whose requests go through ``DirectRequest`` to its end, in this thread."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coroutine.close()
    raise RuntimeError("a Bot API call waited for an event loop: its Bot needs a DirectRequest")


class TelegramTransport:
    channel = Channel.telegram

    def __init__(
        self,
        bot: Bot,
        *,
        chat_seconds: float = PER_CHAT_SECONDS,
        budget: Budget | None = None,
        side_requests: int = 4,
    ) -> None:
        if not isinstance(bot.request, DirectRequest):
            raise TypeError("a transport's Bot makes its calls with a DirectRequest")
        self.bot = bot
        # The sender gives each chat its next message no earlier than this after the last one
        # (a due time per chat, other chats go on); ``_pace`` spaces the parts of one message.
        self.chat_seconds = chat_seconds
        # Acknowledging taps: a few threads apart from the sender's, nobody waiting for them,
        # so that a burst of taps never holds up the replies.
        self.side = ThreadPoolExecutor(side_requests, thread_name_prefix="lapor-ack")
        self.ready = False
        self.overall = budget or RateLimiter(OVERALL_RATE)
        self.last_in_chat: dict[str, float] = {}
        self.lock = threading.Lock()
        self.starting = threading.Lock()

    def _initialize(self) -> None:
        # On first use, so that a Bot API that is away at start-up delays messages (they wait
        # in the outbox) instead of stopping the process.
        if not self.ready:
            with self.starting:  # several sender threads may get here at once
                if not self.ready:
                    # PTB's own start-up gathers its requests' start-ups: it needs a loop.
                    asyncio.run(self.bot.initialize())
                    self.ready = True

    def call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """A PTB call, made in this thread (not in an event loop's: ``answer`` is for those)."""
        try:
            self._initialize()
        except BaseException:
            coroutine.close()
            raise
        return finish(coroutine)

    def _pace(self, chat: str) -> None:
        with self.lock:
            now = time.monotonic()
            if len(self.last_in_chat) > PACED_CHATS:  # forget chats whose pause is over
                pace = self.chat_seconds
                self.last_in_chat = {c: t for c, t in self.last_in_chat.items() if t + pace > now}
            wait = self.last_in_chat.get(chat, 0.0) + self.chat_seconds - now
            self.last_in_chat[chat] = now + max(0.0, wait)
        if wait > 0:
            time.sleep(wait)
        self.overall.wait()

    def send(self, address: str, message: OutboundMessage, first_part: int) -> Outcome:
        if message.action == "clear_chat":
            return self._clear(address, [int(i) for i in message.extra.get("ids", [])], first_part)
        pieces = split_text(message.text, TEXT_LIMIT) or ["…"]
        markup = keyboard(message.choices)
        provider_id = None
        shown: list[int] = []
        for part in range(first_part, len(pieces)):
            self._pace(address)
            last = part == len(pieces) - 1
            try:
                sent = self.call(
                    self.bot.send_message(
                        chat_id=int(address),
                        text=pieces[part],
                        reply_markup=markup if last else None,
                        protect_content=True,
                    )
                )
            except TelegramError as exc:
                return _refused(exc, part, tuple(shown))
            shown.append(sent.message_id)
            provider_id = f"{address}:{sent.message_id}"
        return Outcome(
            Result.sent, len(pieces), provider_id=provider_id, chat_message_ids=tuple(shown)
        )

    def _clear(self, address: str, ids: list[int], first_batch: int) -> Outcome:
        """Quick exit: delete the conversation's messages, both sides, a hundred at a time."""
        batches = [ids[start : start + DELETE_BATCH] for start in range(0, len(ids), DELETE_BATCH)]
        for number in range(first_batch, len(batches)):
            self._pace(address)
            try:
                self.call(
                    self.bot.delete_messages(chat_id=int(address), message_ids=batches[number])
                )
            except BadRequest:
                continue  # too old to delete, or deleted by the reporter already
            except TelegramError as exc:
                return _refused(exc, number, ())
        return Outcome(Result.sent, len(batches))

    def answer(self, callback_query_id: str) -> None:
        """Stop the button's progress spinner; best effort, and nobody waits for it (called
        from the webhook's event loop: the call is made on the side threads)."""
        self.side.submit(self._answer, callback_query_id)

    def _answer(self, callback_query_id: str) -> None:
        with contextlib.suppress(TelegramError):
            self.call(self.bot.answer_callback_query(callback_query_id))


def _refused(exc: TelegramError, part: int, shown: tuple[int, ...]) -> Outcome:
    if isinstance(exc, RetryAfter):
        seconds = exc.retry_after
        wait = seconds if isinstance(seconds, int) else seconds.total_seconds()
        return Outcome(
            Result.retry, part, error="telegram:429", retry_after=wait, chat_message_ids=shown
        )
    if isinstance(exc, Forbidden):
        return Outcome(Result.failed, part, error=BLOCKED, chat_message_ids=shown)
    if isinstance(exc, BadRequest):
        error = f"telegram:400:{type(exc).__name__}"
        return Outcome(Result.failed, part, error=error, chat_message_ids=shown)
    return Outcome(
        Result.retry, part, error=f"telegram:{type(exc).__name__}", chat_message_ids=shown
    )


class TelegramDownloader:
    """``getFile``, then the file from ``base_file_url``, through the transport's Bot."""

    channel = Channel.telegram

    def __init__(self, transport: TelegramTransport) -> None:
        self.transport = transport

    def download(self, ref: str, max_bytes: int) -> tuple[bytes, str]:
        try:
            found = self.transport.call(self.transport.bot.get_file(ref))
            if found.file_size is not None and found.file_size > max_bytes:
                raise TooLarge
            content = bytes(self.transport.call(found.download_as_bytearray()))
        except TelegramError as exc:
            raise Unavailable(type(exc).__name__) from None
        if len(content) > max_bytes:
            raise TooLarge
        return content, _guess_type(found.file_path or "")


def _guess_type(path: str) -> str:
    guessed, _ = mimetypes.guess_type(path)
    return guessed or "application/octet-stream"
