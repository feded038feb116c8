"""The outbox sender: delivers what turns and officers wrote to the outbox, once, with retries.

The sender leases the due messages of every channel (``SKIP LOCKED``, so several processes share
the outbox), sends them outside any transaction, and records the outcomes in batches. A committed
turn wakes it (``wake``), so a reply does not wait for a poll. Sends run on a few threads at once;
the messages of one chat go one after another, in order, each no earlier than the chat's due time
(Telegram's pace in one chat), while other chats go on. The platforms' overall rates are budgets
(``RateLimiter`` in one process, ``SharedBudget`` across processes on PostgreSQL).

A message the platform refused for a while (rate limits, a server error, no network) is retried
with exponential backoff up to a cap; one that cannot go now (WhatsApp's 24-hour window) is held
until the reporter writes again (and is told so by an approved template, ``bot.window``); one the
platform will never take fails, and its text and address are dropped.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import urllib3
from sqlmodel import Session

from bot import metrics
from bot.messages import OutboundMessage
from bot.whatsapp import render, render_template
from bot.window import Windows, is_open
from storage import budgets, chat_messages, outbox, windows
from storage.crypto import Crypto
from storage.db import Database, Unit
from storage.models import Channel, OutboxMessage, OutboxStatus, WindowNotice

log = logging.getLogger("lapor.sender")

# Graph API error codes (PROTOCOLS §1.10): throttling, retryable, and "outside the 24-hour window".
WHATSAPP_THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})
WHATSAPP_RETRYABLE = frozenset({0, 1, 2, 131000, 131016, 131053, 190})
WHATSAPP_OUTSIDE_WINDOW = 131047
# The template does not exist in that language (or is not approved), is paused, or is disabled:
# the backup template is tried (PROTOCOLS §1.11).
WHATSAPP_TEMPLATE_REFUSED = frozenset({132001, 132015, 132016})
# Connections to Graph kept open: one a sender thread, for as many threads as the setting allows.
SEND_CONNECTIONS = 64
# A platform call's waits (Graph's and the Bot API's).
CONNECT_SECONDS = 5.0
READ_SECONDS = 10.0
# A connection pool's settings: no retries of its own (a POST tried twice may be sent twice, and
# the outbox retries).
_POOL: dict[str, Any] = {
    "timeout": urllib3.Timeout(connect=CONNECT_SECONDS, read=READ_SECONDS),
    "retries": False,
}


class Result(StrEnum):
    sent = "sent"
    retry = "retry"
    held = "held"
    failed = "failed"


@dataclass(frozen=True)
class Outcome:
    result: Result
    parts_sent: int
    provider_id: str | None = None
    error: str = ""
    retry_after: float | None = None  # seconds, when the platform said how long to wait
    # Ids of the messages now in the reporter's chat (Telegram), for a later quick exit to delete.
    chat_message_ids: tuple[int, ...] = ()


class Transport(Protocol):
    channel: Channel

    def send(self, address: str, message: OutboundMessage, first_part: int) -> Outcome: ...


class Budget(Protocol):
    """A send rate: ``wait`` returns when one more send may go."""

    def wait(self) -> None: ...


def burst_of(rate: float) -> int:
    # A tenth of a second's worth may go at once (a turn's replies, several chats answered
    # together); beyond that sends are spaced evenly, so no one-second window exceeds the rate
    # by more than this.
    return max(1, int(rate / 10))


class RateLimiter:
    """At most ``rate`` sends a second from this process (GCRA: each send reserves the next slot,
    so waiting threads are served in turn and never exceed the rate together)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.interval = 1 / rate
        self.tolerance = (burst_of(rate) - 1) * self.interval
        self.due = clock()  # the theoretical time of the next send
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            self.due = max(self.due, now) + self.interval
            pause = self.due - self.interval - self.tolerance - now
        if pause > 0:
            time.sleep(pause)


class SharedBudget:
    """At most ``rate`` sends a second from every process on this PostgreSQL database together
    (WhatsApp's rate per phone number, Telegram's per bot): the same slots as ``RateLimiter``,
    reserved in one row (``storage.budgets``) on the database's clock."""

    def __init__(self, database: Database, name: str, rate: float) -> None:
        self.database = database
        self.name = name
        self.interval = 1 / rate
        self.tolerance = (burst_of(rate) - 1) * self.interval

    def wait(self) -> None:
        with self.database.unit() as session:
            pause = budgets.reserve_slot(self.name, self.interval, self.tolerance, session=session)
        if pause > 0:
            time.sleep(pause)


def budget_for(database: Database, name: str, rate: float) -> Budget:
    """Shared through the database on PostgreSQL (any number of processes); in the process on
    SQLite (one process writes a SQLite database)."""
    if database.backend == "sqlite":
        return RateLimiter(rate)
    return SharedBudget(database, name, rate)


class WhatsAppTransport:
    channel = Channel.whatsapp

    def __init__(
        self,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        rate: float = 80,
        budget: Budget | None = None,
        windows: Windows | None = None,
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self.headers = {
            "Authorization": f"Bearer {access_token}",
            "Content-Type": "application/json",
        }
        self.limiter = budget or RateLimiter(rate)
        # urllib3, not httpx: a send is one small POST, and httpx spent about twice urllib3's
        # CPU on it (measured: 1.1 ms against 0.5), a third of ``lapor serve``'s time under
        # load. A connection a sender thread, kept alive, in the pool of Graph's one host: a
        # ``PoolManager`` parsed the URL and looked its pool up again for every send.
        self.http = urllib3.connection_from_url(self.url, **_POOL, maxsize=SEND_CONNECTIONS)
        self.path = urllib3.util.parse_url(self.url).request_uri
        # Without it, a message outside the 24-hour window is only held (as before templates).
        self.windows = windows

    def _post(self, payload: dict[str, Any]) -> _Answer:
        """POST to Graph; raises ``urllib3.exceptions.HTTPError`` when no answer came."""
        response = self.http.urlopen(
            "POST", self.path, body=json.dumps(payload).encode(), headers=self.headers
        )
        try:
            body = json.loads(response.data)
        except ValueError:
            body = None
        return _Answer(response.status, body if isinstance(body, dict) else {})

    def send(self, address: str, message: OutboundMessage, first_part: int) -> Outcome:
        payloads = render(message, address)
        if payloads and self.windows is not None and self.windows.closed(address):
            return self._outside_window(address, first_part, "window:closed")
        provider_id = None
        for part in range(first_part, len(payloads)):
            self.limiter.wait()
            try:
                response = self._post(payloads[part])
            except urllib3.exceptions.HTTPError as exc:
                return Outcome(Result.retry, part, error=f"network:{type(exc).__name__}")
            if response.ok:
                provider_id = _message_id(response)
                continue
            refusal = _whatsapp_refusal(response, part)
            if refusal.result is Result.held and self.windows is not None:
                return self._outside_window(address, part, refusal.error)
            return refusal
        return Outcome(Result.sent, len(payloads), provider_id=provider_id)

    def _outside_window(self, address: str, part: int, reason: str) -> Outcome:
        """The message waits for the reporter to write; the first message to wait in this closed
        window also sends the template that tells them (a throttled template is retried with
        the message, with its backoff)."""
        assert self.windows is not None
        if not self.windows.claim(address):
            return Outcome(Result.held, part, error=reason)  # told already, or being told
        template = self._template(address)
        if template.result is Result.sent:
            self.windows.settle(address, WindowNotice.sent)
            return Outcome(Result.held, part, error=reason)
        if template.result is Result.retry:
            self.windows.settle(address, None)
            return Outcome(Result.retry, part, error=template.error)
        if self.windows.settle(address, WindowNotice.refused):
            log.warning(
                "a message waits for a reporter who cannot be told: no WhatsApp template went",
                extra={"event": "template_refused", "error": template.error},
            )
        return Outcome(Result.held, part, error=template.error)

    def _template(self, address: str) -> Outcome:
        """The template, else the backup when WhatsApp refuses the first one's name."""
        assert self.windows is not None
        templates = self.windows.templates
        outcome = Outcome(Result.failed, 0, error="template:none")
        for name in templates.names:
            self.limiter.wait()
            payload = render_template(name, templates.language, address)
            code: object = None
            try:
                response = self._post(payload)
            except urllib3.exceptions.HTTPError as exc:
                outcome = Outcome(Result.retry, 0, error=f"template:network:{type(exc).__name__}")
            else:
                if response.ok:
                    outcome = Outcome(Result.sent, 1, provider_id=_message_id(response))
                else:
                    code = _error_code(response)
                    refusal = _whatsapp_refusal(response, 0)
                    # Only throttling and server trouble are worth another try of a template.
                    result = Result.retry if refusal.result is Result.retry else Result.failed
                    outcome = Outcome(result, 0, error=f"template:{refusal.error}")
            metrics.outbound_messages.labels(
                channel=self.channel.value, result=outcome.result.value, kind=metrics.TEMPLATE
            ).inc()
            if code not in WHATSAPP_TEMPLATE_REFUSED:
                break
        return outcome


def platform_pool(connections: int) -> urllib3.PoolManager:
    """Kept-alive connections to a platform's API (the Bot API's, for
    ``bot.telegram.DirectRequest``; the URLs hold the token), with no retries of their own."""
    return urllib3.PoolManager(**_POOL, maxsize=connections)


@dataclass(frozen=True, slots=True)
class _Answer:
    """Graph's answer: its status and its JSON object (empty when it sent none)."""

    status: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def _message_id(response: _Answer) -> str | None:
    messages = response.body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        found = messages[0].get("id")
        return found if isinstance(found, str) else None
    return None


def _error_code(response: _Answer) -> object:
    error = response.body.get("error")
    return error.get("code") if isinstance(error, dict) else None


def _whatsapp_refusal(response: _Answer, part: int) -> Outcome:
    code = _error_code(response)
    label = f"graph:{code}" if code is not None else f"http:{response.status}"
    if code == WHATSAPP_OUTSIDE_WINDOW:
        return Outcome(Result.held, part, error=label)
    if code in WHATSAPP_THROTTLED or response.status in (429, 500, 502, 503, 504):
        return Outcome(Result.retry, part, error=label)
    if code in WHATSAPP_RETRYABLE:
        return Outcome(Result.retry, part, error=label)
    return Outcome(Result.failed, part, error=label)


@dataclass(frozen=True)
class Backoff:
    base: float = 2.0
    cap: float = 600.0
    max_attempts: int = 15  # about two hours of trying, then the message fails

    def delay(self, attempts: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(self.cap, retry_after)
        # Full jitter, so that many messages refused together do not come back together.
        return random.uniform(0, min(self.cap, self.base * 2**attempts))  # noqa: S311


ChatKey = tuple[Channel, str]  # a channel and a reporter key: one chat


@dataclass(frozen=True)
class _Job:
    transport: Transport
    message_id: int
    chat: ChatKey
    address: bytes
    payload: bytes
    parts_sent: int


class OutboxSender:
    """Delivers the outbox. ``run_forever`` is the process's sender (woken by ``wake``);
    ``run_once`` leases one batch, sends it and records it before returning (tests, tools)."""

    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        transports: list[Transport],
        *,
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
        threads: int = 8,
        poll: float = 0.5,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.transports = transports
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.batch = batch
        self.poll = poll
        self.clock = clock
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="lapor-send")
        self.woken = threading.Event()
        self.fresh = True  # a turn may have queued something since the last lease
        self.lock = threading.Lock()
        # Guarded by ``lock``: what this sender holds (leased, not yet recorded), chat by chat.
        self.waiting: dict[ChatKey, deque[_Job]] = {}
        self.busy: set[ChatKey] = set()
        self.due: dict[ChatKey, float] = {}  # monotonic time before which a chat gets nothing
        self.done: list[tuple[_Job, Outcome]] = []
        self.held: set[int] = set()  # message ids: leased here, not recorded yet

    def wake(self) -> None:
        """Something was queued (a turn committed): look for it now. Thread-safe, never blocks."""
        self.fresh = True
        self.woken.set()

    def run_once(self) -> int:
        """Lease the due messages (up to ``batch`` a channel), send them, record the outcomes;
        how many it leased."""
        leased = sum(self._lease(transport, self.batch) for transport in self.transports)
        while True:
            with self.lock:
                if len(self.done) == len(self.held):
                    break
            pause = self._dispatch()
            self.woken.wait(min(pause, 0.05))
            self.woken.clear()
        self._record_done()
        return leased

    def run_forever(self, stop: threading.Event) -> None:
        """Until ``stop`` is set: lease what is due when woken (or every ``poll`` seconds, for
        retries and for messages another process queued), send, record in batches."""
        polled = 0.0
        while not stop.is_set():
            self.woken.clear()
            try:
                now = time.monotonic()
                if self.fresh or now - polled >= self.poll:
                    self.fresh = False
                    polled = now
                    full = self._lease_all()
                    if full:
                        self.fresh = True  # more may be due: lease again once these go
                self._record_done()
            except Exception:
                # The database is away, most likely: what is leased stays leased; try again.
                log.exception("send round failed", extra={"event": "work_round_failed"})
                stop.wait(5.0)
                continue
            pause = self._dispatch()
            if not self.fresh or self._room() == 0:
                self.woken.wait(min(pause, self.poll))

    def stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _room(self) -> int:
        with self.lock:
            return max(0, 2 * self.batch - len(self.held))

    def _lease_all(self) -> bool:
        """Lease more if there is room; True when a channel had more due than was taken."""
        full = False
        for transport in self.transports:
            room = self._room()
            if room == 0:
                return False
            limit = min(room, self.batch)
            full |= self._lease(transport, limit) == limit
        return full

    def _lease(self, transport: Transport, limit: int) -> int:
        with self.database.unit() as session:
            due = outbox.claim_due(
                transport.channel, self.clock(), self.lease, limit=limit, unit=Unit.of(session)
            )
        jobs = [
            _Job(
                transport,
                row.id,
                (transport.channel, row.reporter_key),
                row.address,
                row.payload,
                row.parts_sent,
            )
            for row in due
        ]
        with self.lock:
            for job in jobs:
                if job.message_id in self.held:
                    continue  # ours already (its lease ran out while it waited): lease renewed
                self.held.add(job.message_id)
                self.waiting.setdefault(job.chat, deque()).append(job)
        return len(jobs)

    def _dispatch(self) -> float:
        """Start the next message of every chat that is free and due; seconds until the next
        chat with a message becomes due (or ``poll``)."""
        now = time.monotonic()
        pause = self.poll
        with self.lock:
            for chat in list(self.waiting):
                if chat in self.busy:
                    continue
                queue = self.waiting[chat]
                due = self.due.get(chat, 0.0)
                if due > now:
                    pause = min(pause, due - now)
                    continue
                job = queue.popleft()
                if not queue:
                    del self.waiting[chat]
                self.busy.add(chat)
                self.pool.submit(self._send, job)
            if len(self.due) > 4 * len(self.held) + 1024:  # forget chats whose pause is over
                self.due = {chat: due for chat, due in self.due.items() if due > now}
        return pause

    def _send(self, job: _Job) -> None:
        cipher = self.crypto.cipher
        try:
            outcome = job.transport.send(
                cipher.decrypt_text(job.address),
                OutboundMessage.from_bytes(cipher.decrypt(job.payload)),
                job.parts_sent,
            )
        except Exception:
            log.exception("send failed", extra={"event": "send_failed"})
            outcome = Outcome(Result.retry, job.parts_sent, error="exception")
        pace = float(getattr(job.transport, "chat_seconds", 0.0))
        with self.lock:
            self.done.append((job, outcome))
            self.busy.discard(job.chat)
            if pace > 0:
                self.due[job.chat] = time.monotonic() + pace
        self.woken.set()

    def _record_done(self) -> None:
        """Record every finished send in one transaction."""
        with self.lock:
            finished, self.done = self.done, []
        if not finished:
            return
        sent = [(job, outcome) for job, outcome in finished if outcome.result is Result.sent]
        other = [(job, outcome) for job, outcome in finished if outcome.result is not Result.sent]
        try:
            with self.database.unit() as session:
                if sent:
                    self._record_sent(sent, Unit.of(session))
                if other:  # retries, holds and failures: rare, through the ORM
                    ids = [job.message_id for job, _ in other]
                    rows = {row.id: row for row in outbox.lock_messages(ids, session=session)}
                    for job, outcome in other:
                        row = rows.get(job.message_id)
                        if row is not None and row.status == OutboxStatus.pending:
                            self._record(row, outcome, session)
        except Exception:
            with self.lock:
                self.done[:0] = finished  # recorded next time; their leases keep others off
            raise
        with self.lock:
            self.held.difference_update(job.message_id for job, _ in finished)
        for job, outcome in finished:
            metrics.outbound_messages.labels(
                channel=job.transport.channel.value,
                result=outcome.result.value,
                kind=metrics.MESSAGE,
            ).inc()

    def _record_sent(self, sent: list[tuple[_Job, Outcome]], unit: Unit) -> None:
        """The common outcome, for the whole batch in one statement through the driver (the
        write lock is held while it runs: it must be short)."""
        now, hasher = self.clock(), self.crypto.hasher
        marked = []
        for job, outcome in sent:
            channel, reporter_key = job.chat
            if outcome.chat_message_ids:
                chat_messages.remember_messages(
                    reporter_key, outcome.chat_message_ids, now, unit=unit
                )
            provider = outcome.provider_id
            key = hasher.delivery_key(f"{channel.value}-out", provider) if provider else None
            marked.append((job.message_id, key))
        outbox.mark_many_sent(marked, now, unit=unit)

    def _record(self, row: OutboxMessage, outcome: Outcome, session: Session) -> None:
        now = self.clock()
        if outcome.chat_message_ids:
            chat_messages.remember_messages(
                row.reporter_key, outcome.chat_message_ids, now, unit=Unit.of(session)
            )
        match outcome.result:  # sent: ``_record_sent``, for the batch at once
            case Result.retry if row.attempts + 1 < self.backoff.max_attempts:
                delay = self.backoff.delay(row.attempts, outcome.retry_after)
                outbox.retry_later(
                    row,
                    now + timedelta(seconds=delay),
                    outcome.error,
                    outcome.parts_sent,
                    session=session,
                )
            case Result.held if self._wrote_meanwhile(row, now, session):
                # Their window is open again and the turn found nothing held yet: it goes now.
                outbox.retry_later(row, now, outcome.error, outcome.parts_sent, session=session)
            case Result.held:
                outbox.give_up(
                    row, OutboxStatus.held, outcome.error, outcome.parts_sent, session=session
                )
            case _:
                outbox.give_up(
                    row, OutboxStatus.failed, outcome.error, outcome.parts_sent, session=session
                )
                log.warning(
                    "message not delivered",
                    extra={"event": "message_failed", "channel": row.channel},
                )

    @staticmethod
    def _wrote_meanwhile(row: OutboxMessage, now: datetime, session: Session) -> bool:
        """Mark a WhatsApp message held on the reporter's window (their next message releases
        it); True when they wrote while it was being tried, so that it would wait for nothing."""
        if row.channel != Channel.whatsapp:
            return False
        window = windows.hold(row.reporter_key, row.created_at, session=session)
        # Open means no notice, which every message held in a closed window has (or had): a
        # turn cleared it.
        return window.last_inbound_at is not None and is_open(window, now)
