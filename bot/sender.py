"""The outbox sender: delivers what turns and officers wrote to the outbox, once, with retries.

Each round leases the due messages of every channel (``SKIP LOCKED``, so several processes share
the outbox), sends them outside the transaction, and records the outcome. A message the platform
refused for a while (rate limits, a server error, no network) is retried with exponential backoff
up to a cap; one that cannot go now (WhatsApp's 24-hour window) is held until the reporter writes
again, and the reporter is told by an approved template (``bot.window``); one the platform will
never take fails, and its text and address are dropped.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol

import httpx
from sqlmodel import Session

from bot import metrics
from bot.messages import OutboundMessage
from bot.whatsapp import render, render_template
from bot.window import Windows, is_open
from storage import chat_messages, outbox, windows
from storage.crypto import Crypto
from storage.db import Database
from storage.models import Channel, OutboxMessage, OutboxStatus, WindowNotice

log = logging.getLogger("lapor.sender")

# Graph API error codes (PROTOCOLS §1.10): throttling, retryable, and "outside the 24-hour window".
WHATSAPP_THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})
WHATSAPP_RETRYABLE = frozenset({0, 1, 2, 131000, 131016, 131053, 190})
WHATSAPP_OUTSIDE_WINDOW = 131047
# The template does not exist in that language (or is not approved), is paused, or is disabled:
# the backup template is tried (PROTOCOLS §1.11).
WHATSAPP_TEMPLATE_REFUSED = frozenset({132001, 132015, 132016})


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


class RateLimiter:
    """At most ``rate`` sends a second from this process (a token bucket)."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.clock = clock
        self.tokens = rate
        self.stamp = clock()
        self.lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.rate, self.tokens + (now - self.stamp) * self.rate)
                self.stamp = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                pause = (1 - self.tokens) / self.rate
            time.sleep(pause)


class WhatsAppTransport:
    channel = Channel.whatsapp

    def __init__(
        self,
        api_url: str,
        phone_number_id: str,
        access_token: str,
        *,
        rate: float = 80,
        client: httpx.Client | None = None,
        windows: Windows | None = None,
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {access_token}"}
        self.limiter = RateLimiter(rate)
        self.client = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
        # Without it, a message outside the 24-hour window is only held (as before templates).
        self.windows = windows

    def send(self, address: str, message: OutboundMessage, first_part: int) -> Outcome:
        payloads = render(message, address)
        if payloads and self.windows is not None and self.windows.closed(address):
            return self._outside_window(address, first_part, "window:closed")
        provider_id = None
        for part in range(first_part, len(payloads)):
            self.limiter.wait()
            try:
                response = self.client.post(self.url, json=payloads[part], headers=self.headers)
            except httpx.HTTPError as exc:
                return Outcome(Result.retry, part, error=f"network:{type(exc).__name__}")
            if response.is_success:
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
                response = self.client.post(self.url, json=payload, headers=self.headers)
            except httpx.HTTPError as exc:
                outcome = Outcome(Result.retry, 0, error=f"template:network:{type(exc).__name__}")
            else:
                if response.is_success:
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


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _message_id(response: httpx.Response) -> str | None:
    messages = _json(response).get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        found = messages[0].get("id")
        return found if isinstance(found, str) else None
    return None


def _error_code(response: httpx.Response) -> object:
    error = _json(response).get("error")
    return error.get("code") if isinstance(error, dict) else None


def _whatsapp_refusal(response: httpx.Response, part: int) -> Outcome:
    code = _error_code(response)
    label = f"graph:{code}" if code is not None else f"http:{response.status_code}"
    if code == WHATSAPP_OUTSIDE_WINDOW:
        return Outcome(Result.held, part, error=label)
    if code in WHATSAPP_THROTTLED or response.status_code in (429, 500, 502, 503, 504):
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


class OutboxSender:
    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        transports: list[Transport],
        *,
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.transports = transports
        self.backoff = backoff or Backoff()
        self.lease = lease
        self.batch = batch
        self.clock = clock

    def run_once(self) -> int:
        """One round over every channel; how many messages it tried."""
        tried = 0
        for transport in self.transports:
            with self.database.unit() as session:
                due = outbox.claim_due(
                    transport.channel, self.clock(), self.lease, limit=self.batch, session=session
                )
                work = [(row.id, row.address, row.payload, row.parts_sent) for row in due]
            for message_id, address, payload, parts_sent in work:
                assert message_id is not None
                self._deliver(transport, message_id, address, payload, parts_sent)
                tried += 1
        return tried

    def _deliver(
        self, transport: Transport, message_id: int, address: bytes, payload: bytes, parts: int
    ) -> None:
        cipher = self.crypto.cipher
        try:
            outcome = transport.send(
                cipher.decrypt_text(address),
                OutboundMessage.from_bytes(cipher.decrypt(payload)),
                parts,
            )
        except Exception:
            log.exception("send failed", extra={"event": "send_failed"})
            outcome = Outcome(Result.retry, parts, error="exception")
        channel = transport.channel.value
        with self.database.unit() as session:
            row = session.get(OutboxMessage, message_id, with_for_update=True)
            if row is None or row.status != OutboxStatus.pending:
                return
            self._record(row, outcome, session)
        metrics.outbound_messages.labels(
            channel=channel, result=outcome.result.value, kind=metrics.MESSAGE
        ).inc()

    def _record(self, row: OutboxMessage, outcome: Outcome, session: Session) -> None:
        now = self.clock()
        chat_messages.remember_messages(
            row.reporter_key, outcome.chat_message_ids, now, session=session
        )
        match outcome.result:
            case Result.sent:
                key = (
                    self.crypto.hasher.delivery_key(f"{row.channel}-out", outcome.provider_id)
                    if outcome.provider_id
                    else None
                )
                outbox.mark_sent(row, now, provider_key=key, session=session)
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
