"""The outbox sender: delivers what turns and officers wrote to the outbox, once, with retries.

Each round leases the due messages of every channel (``SKIP LOCKED``, so several processes share
the outbox), sends them outside the transaction, and records the outcome. A message the platform
refused for a while (rate limits, a server error, no network) is retried with exponential backoff
up to a cap; one that cannot go now (WhatsApp's 24-hour window) is held until the reporter writes
again; one the platform will never take fails, and its text and address are dropped.
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
from bot.whatsapp import render
from storage import chat_messages, outbox
from storage.crypto import Crypto
from storage.db import Database
from storage.models import Channel, OutboxMessage, OutboxStatus

log = logging.getLogger("lapor.sender")

# Graph API error codes (PROTOCOLS §1.10): throttling, retryable, and "outside the 24-hour window".
WHATSAPP_THROTTLED = frozenset({4, 80007, 130429, 131048, 131056})
WHATSAPP_RETRYABLE = frozenset({0, 1, 2, 131000, 131016, 131053, 190})
WHATSAPP_OUTSIDE_WINDOW = 131047


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
    ) -> None:
        self.url = f"{api_url.rstrip('/')}/{phone_number_id}/messages"
        self.headers = {"Authorization": f"Bearer {access_token}"}
        self.limiter = RateLimiter(rate)
        self.client = client or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))

    def send(self, address: str, message: OutboundMessage, first_part: int) -> Outcome:
        payloads = render(message, address)
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
            return _whatsapp_refusal(response, part)
        return Outcome(Result.sent, len(payloads), provider_id=provider_id)


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


def _whatsapp_refusal(response: httpx.Response, part: int) -> Outcome:
    error = _json(response).get("error")
    code = error.get("code") if isinstance(error, dict) else None
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
        metrics.outbound_messages.labels(channel=channel, result=outcome.result.value).inc()

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
