"""One turn, start to finish: record the delivery, lock the conversation, step, persist, and queue
the replies.

``handle`` does it all in one transaction, which commits before the webhook answers 200: a crash
leaves everything of the turn or nothing (and then the platform delivers the message again), and a
repeated delivery is recognised and ignored. A turn that fails is rolled back and its delivery
recorded on its own (``record``), for the sweeper to run again (``process``) a few times before the
reporter gets an apology: nothing is lost either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, NamedTuple

import orjson
from sqlalchemy import event
from sqlmodel import Session

from bot import limits, metrics
from bot.media import Source
from bot.messages import EDITED, InboundMessage, OutboundMessage, ReplyAddress
from flows import engine
from flows.machine import Flows
from flows.types import Effect, EffectKind, InputKind, Reply, StepResult, UserInput, Voice
from storage import (
    alerts,
    chat_messages,
    conversations,
    inbound,
    media,
    outbox,
    ratelimit,
    referrals,
    reports,
    windows,
)
from storage.crypto import Crypto
from storage.db import Database, Unit
from storage.masking import mask_pii
from storage.models import (
    Channel,
    InboundStatus,
    MessageDirection,
    Priority,
    Report,
    ReportStatus,
    utcnow,
)
from storage.receipts import format_receipt, generate_receipt

log = logging.getLogger("lapor.inbox")

MAX_ATTEMPTS = 3
MESSAGES_SHOWN = 10
RECEIPT_FAILURE = "receipt_fail"
RECEIPT_FAILURE_ALL = "receipt_fail_all"
EVERYONE = "*"
# Telegram deletes messages up to 48 hours old; the margin covers the time until the sender runs.
DELETABLE = timedelta(hours=47)


@dataclass(frozen=True)
class InboxConfig:
    conversation_ttl: timedelta = timedelta(hours=24)
    reply_address_ttl: timedelta = timedelta(days=90)
    receipt_failures: int = 5
    receipt_window: timedelta = timedelta(minutes=15)
    receipt_failures_per_hour: int = 1000
    reports_per_hour: int = 5
    burst_messages: int = 30
    burst_window: timedelta = timedelta(seconds=60)
    sla: dict[Priority, timedelta] = field(default_factory=lambda: dict(reports.DEFAULT_SLA))


@dataclass
class _TurnContext:
    message: InboundMessage
    reporter_key: str
    now: datetime
    unit: Unit
    conversation: conversations.LiveConversation | None = None
    counted: limits.BurstCount = field(default_factory=limits.BurstCount)
    # The turn's messages to the reporter, written in one statement at its end (in this order).
    outgoing: list[OutboundMessage] = field(default_factory=list)
    submitted: bool = False


class Turned(NamedTuple):
    """What is left to do once a turn is committed: wake the sender for the messages it queued,
    count the report it submitted. (Not before: on SQLite a turn's work may run twice before
    it is committed once, see ``Database.submit``.)"""

    queued: int
    submitted: bool


class Inbox:
    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        flows: Flows,
        config: InboxConfig | None = None,
        clock: Callable[[], datetime] = utcnow,
        *,
        on_committed: Callable[[], None] | None = None,
        on_wrote: Callable[[str], None] | None = None,
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.flows = flows
        self.config = config or InboxConfig()
        self.clock = clock
        # Called after a commit that queued messages to reporters (wakes the outbox sender).
        self.on_committed = on_committed
        # Called after a WhatsApp reporter's turn committed, with their pseudonym: their 24-hour
        # window is open now (the sender then sends the replies without reading it back).
        self.on_wrote = on_wrote

    def _committed(self, queued: int) -> None:
        if queued and self.on_committed is not None:
            self.on_committed()

    def reporter_key(self, channel: Channel, identity: str) -> str:
        return self.crypto.hasher.pseudonym(channel.value, identity)

    def _keys(self, message: InboundMessage) -> tuple[str, str]:
        """Who sent the delivery (their pseudonym) and which delivery it is, both keyed hashes."""
        channel = message.channel
        return (
            self.reporter_key(channel, message.identity),
            self.crypto.hasher.delivery_key(channel.value, message.delivery_id),
        )

    def record(self, message: InboundMessage) -> int | None:
        """Durably record a delivery; ``None`` if it was recorded before (a duplicate)."""
        reporter_key, delivery_key = self._keys(message)
        with self.database.unit() as session:
            recorded = inbound.record_inbound(
                message.channel,
                delivery_key,
                reporter_key,
                self.crypto.cipher.encrypt(message.payload()),
                self.clock(),
                unit=Unit.of(session),
            )
        if recorded is not None:
            metrics.INBOUND[message.channel.value].inc()
        return recorded

    def handle(self, message: InboundMessage) -> bool:
        """Record and process in one transaction; False for a duplicate (``submit``, waited for)."""
        return self.submit(message).result()

    def submit(self, message: InboundMessage) -> Future[bool]:
        """Record and process the delivery in one transaction; the future says whether it was a
        new turn (False for a duplicate) once everything of the turn is durable.

        The delivery's row is written in the turn's transaction (on SQLite sharing its commit
        with whatever other turns were waiting: ``Database.submit``), so once the future is done
        the turn and its replies are durable together. A turn that fails rolls back alone, and
        the delivery is then recorded on its own for the sweeper to finish before the future
        completes: nothing is lost either way."""
        done: Future[bool] = Future()

        def finish(turn: Future[Turned | None]) -> None:
            try:
                error = turn.exception()
                turned = (
                    self._failed(message, error)
                    if error
                    else self._counted(message, keys[0], turn.result())
                )
                done.set_result(turned)
            except Exception as exc:
                done.set_exception(exc)

        keys = self._keys(message)
        self.database.submit(partial(self._handle_in, message, keys)).add_done_callback(finish)
        return done

    async def take(self, message: InboundMessage) -> bool:
        """``submit``, awaited in the webhooks' event loop (woken once for all the turns that
        completed meanwhile)."""
        keys = self._keys(message)
        try:
            turned = await self.database.run(partial(self._handle_in, message, keys), order=keys[0])
        except Exception as exc:
            return await asyncio.to_thread(self._failed, message, exc)
        return self._counted(message, keys[0], turned)

    def _handle_in(
        self, message: InboundMessage, keys: tuple[str, str], unit: Unit
    ) -> Turned | None:
        """The turn's work in its unit of work; ``None`` for a duplicate."""
        reporter_key, delivery_key = keys
        now = self.clock()
        taken = inbound.take_delivery(
            message.channel, delivery_key, reporter_key, now, shown=message.message_id, unit=unit
        )
        if taken is None:
            return None
        return self._turn(message, reporter_key, unit, now, taken[1])

    def _failed(self, message: InboundMessage, error: BaseException) -> bool:
        """The turn rolled back: its delivery is recorded on its own, for the sweeper."""
        log.error("turn failed", exc_info=error, extra={"event": "turn_failed"})
        recorded = self.record(message)
        if recorded is not None:
            self._count_failure(recorded)
        return False

    def _counted(self, message: InboundMessage, reporter_key: str, turned: Turned | None) -> bool:
        """A delivery's turn is durable (``None``: it was a duplicate)."""
        if turned is None:
            return False
        metrics.INBOUND[message.channel.value].inc()
        self._after(message.channel, reporter_key, turned)
        return True

    def _after(self, channel: Channel, reporter_key: str, turned: Turned) -> None:
        """A turn is durable: count it, and tell who waits for it."""
        metrics.TURNS[channel.value].inc()
        if turned.submitted:
            metrics.reports_submitted.inc()
            log.info("report submitted", extra={"event": "report_submitted"})
        if channel is Channel.whatsapp and self.on_wrote is not None:
            self.on_wrote(reporter_key)
        self._committed(turned.queued)

    def process(self, inbound_id: int) -> bool:
        """Run the turn of a recorded delivery; False if it was done already (or by another)."""
        try:
            with self.database.unit() as session:
                row = inbound.lock_inbound(inbound_id, session=session)
                if row is None or row.payload is None:
                    return False
                message = InboundMessage.from_payload(self.crypto.cipher.decrypt(row.payload))
                now, unit = self.clock(), Unit.of(session)
                conversation = inbound.lock_for_turn(
                    row.reporter_key, message.message_id, now, unit=unit
                )
                turned = self._turn(message, row.reporter_key, unit, now, conversation)
                inbound.finish_inbound(row, now, session=session)
        except Exception:
            log.exception("turn failed", extra={"event": "turn_failed"})
            self._count_failure(inbound_id)
            return False
        self._after(message.channel, row.reporter_key, turned)
        return True

    def _count_failure(self, inbound_id: int) -> None:
        """A turn that keeps failing is not retried for ever; the reporter still gets an answer."""
        queued = 0
        with self.database.unit() as session:
            row = inbound.lock_inbound(inbound_id, session=session)
            if row is None or row.payload is None:
                return
            row.attempts += 1
            if row.attempts >= MAX_ATTEMPTS:
                message = InboundMessage.from_payload(self.crypto.cipher.decrypt(row.payload))
                turn = _TurnContext(message, row.reporter_key, self.clock(), Unit.of(session))
                self._queue(
                    turn, [Reply("error")], locale=self.flows.default_locale, voice=Voice.other
                )
                queued = self._write_outgoing(turn)
                inbound.finish_inbound(row, self.clock(), session=session)
                row.status = InboundStatus.failed
            session.add(row)
        self._committed(queued)

    # -- the turn ------------------------------------------------------------------------------

    def _turn(
        self,
        message: InboundMessage,
        reporter_key: str,
        unit: Unit,
        now: datetime,
        conversation: conversations.LiveConversation | None,
    ) -> Turned:
        """The turn's statements, all at ``now``; ``conversation``: the reporter's, locked."""
        turn = _TurnContext(message, reporter_key, now, unit, conversation)
        self._step(turn)
        return Turned(self._write_outgoing(turn), turn.submitted)

    def _step(self, turn: _TurnContext) -> None:
        message, reporter_key, now, unit = turn.message, turn.reporter_key, turn.now, turn.unit
        conversation = turn.conversation
        locale = conversation.locale if conversation else self.flows.default_locale
        if message.input.kind is InputKind.event and message.input.event == EDITED:
            # An edit is not a new answer: say so, and change nothing.
            self._queue(turn, [Reply(EDITED)], locale=locale, voice=Voice.other)
            return
        config = self.config
        counted = (
            limits.BurstCount(conversation.burst_count, conversation.burst_since)
            if conversation is not None
            else limits.BurstCount()
        )
        burst, turn.counted = limits.check_burst(
            message.input, counted, now, limit=config.burst_messages, window=config.burst_window
        )
        if burst is not limits.Burst.read:
            if conversation is not None:
                conversations.count_messages(
                    conversation, turn.counted.count, turn.counted.since, unit=unit
                )
            if burst is limits.Burst.warn:
                self._queue(turn, [Reply(limits.SLOW_DOWN)], locale=locale, voice=Voice.other)
            return
        if message.channel is Channel.whatsapp:
            self._release_held(turn)
        snapshot: dict[str, Any] | None = None
        notes: list[Reply] = []
        if conversation is not None and conversation.expires_at <= now:
            conversations.delete_conversation(conversation, unit=unit)
            turn.conversation = None
            notes.append(Reply("expired"))
        elif conversation is not None:
            snapshot = orjson.loads(self.crypto.cipher.decrypt(conversation.snapshot))
        result = engine.step(self.flows, snapshot, message.input)
        if not limits.admit_report(
            result.effects, reporter_key, now, limit=config.reports_per_hour, unit=unit
        ):
            # Not sent, not lost: the draft stays where it was (the review) for a later "send".
            self._save(turn, replace(result, snapshot=snapshot))
            too_many = Reply(limits.TOO_MANY_REPORTS, {"limit": config.reports_per_hour})
            self._queue(turn, [*notes, too_many], locale=result.locale, voice=result.voice)
            return
        replies = notes + result.replies
        params: dict[str, Any] = {}
        pending = list(result.effects)
        while pending:
            follow_up = self._apply(pending.pop(0), turn, result, params)
            if follow_up is not None:
                result = follow_up
                replies += follow_up.replies
                pending += follow_up.effects
        self._save(turn, result)
        replies = [Reply(reply.key, {**reply.params, **params}, reply.choices) for reply in replies]
        self._queue(turn, replies, locale=result.locale, voice=result.voice)

    def _release_held(self, turn: _TurnContext) -> None:
        """The reporter wrote: their 24-hour window opens again, and what waited for it (if
        anything did: one upsert says so) goes now."""
        if windows.open_window(turn.reporter_key, turn.now, unit=turn.unit):
            outbox.release_held(turn.message.channel, turn.reporter_key, turn.now, unit=turn.unit)

    def _save(self, turn: _TurnContext, result: StepResult) -> None:
        conversation, unit = turn.conversation, turn.unit
        if result.snapshot is None:
            if conversation is not None:
                conversations.delete_conversation(conversation, unit=unit)
            return
        snapshot = result.snapshot
        state = conversations.ConversationState(
            flow=snapshot["flow"],
            state=snapshot["state"],
            locale=snapshot["locale"],
            snapshot=self.crypto.cipher.encrypt(orjson.dumps(snapshot)),
            burst_count=turn.counted.count,
            burst_since=turn.counted.since,
        )
        conversations.save_conversation(
            turn.reporter_key,
            turn.message.channel,
            conversation,
            state,
            turn.now,
            expires_at=turn.now + self.config.conversation_ttl,
            unit=unit,
        )

    def _queue(
        self, turn: _TurnContext, replies: list[Reply], *, locale: str, voice: Voice
    ) -> None:
        for reply in replies:
            rendered = self.flows.catalogue.render(reply, locale, voice=voice)
            self._enqueue(turn, OutboundMessage(text=rendered.text, choices=rendered.choices))

    def _enqueue(self, turn: _TurnContext, outbound: OutboundMessage) -> None:
        turn.outgoing.append(outbound)

    def _write_outgoing(self, turn: _TurnContext) -> int:
        """The turn's messages, in one statement; how many."""
        if not turn.outgoing:
            return 0
        cipher = self.crypto.cipher
        outbox.enqueue_many(
            turn.message.channel,
            turn.reporter_key,
            cipher.encrypt_text(turn.message.address),
            [cipher.encrypt(outbound.to_bytes()) for outbound in turn.outgoing],
            turn.now,
            unit=turn.unit,
        )
        return len(turn.outgoing)

    # -- effects --------------------------------------------------------------------------------

    def _apply(
        self, effect: Effect, turn: _TurnContext, result: StepResult, params: dict[str, Any]
    ) -> StepResult | None:
        """Carry out one effect; a look-up answers with the engine's next step."""
        session = turn.unit.session
        match effect.kind:
            case EffectKind.submit_report:
                params["receipt"] = self._submit(effect.data, turn)
            case EffectKind.forget_draft:
                if turn.conversation is not None:
                    conversations.forget_attachments(turn.conversation, unit=turn.unit)
            case EffectKind.clear_chat:
                shown = chat_messages.take_messages(
                    turn.reporter_key, turn.now - DELETABLE, session=session
                )
                if shown:
                    clear = OutboundMessage(text="", action="clear_chat", extra={"ids": shown})
                    self._enqueue(turn, clear)
            case EffectKind.store_evidence:
                self._record_evidence(effect.data, turn, result.locale)
            case EffectKind.lookup_receipt:
                event = self._lookup(str(effect.data["text"]), turn)
                return engine.step(self.flows, result.snapshot, event)
            case EffectKind.reply_to_officers:
                reports.add_message(
                    str(effect.data["report"]),
                    MessageDirection.from_reporter,
                    self.crypto.cipher.encrypt_text(str(effect.data["text"])),
                    turn.now,
                    session=session,
                )
        return None

    def _record_evidence(self, data: dict[str, Any], turn: _TurnContext, locale: str) -> None:
        """A file to fetch after the turn (a download must not hold the database)."""
        ref = str(data.get("media_id") or data.get("file_id") or "")
        if turn.conversation is None or turn.conversation.id is None or not ref:
            return
        source = Source(turn.message.channel, ref, turn.message.address, turn.reporter_key, locale)
        media.add_pending(
            turn.conversation.id,
            str(data.get("kind") or "file"),
            str(data.get("mime_type") or ""),
            self.crypto.cipher.encrypt(source.to_bytes()),
            turn.now,
            session=turn.unit.session,
        )

    def notify(self, source: Source, key: str, params: dict[str, Any]) -> None:
        """A short message about a file, outside any turn (too large, could not be fetched)."""
        text = self.flows.catalogue.render(Reply(key, params), source.locale).text
        cipher = self.crypto.cipher
        with self.database.unit() as session:
            outbox.enqueue(
                source.channel,
                source.reporter_key,
                cipher.encrypt_text(source.address),
                cipher.encrypt(OutboundMessage(text=text).to_bytes()),
                self.clock(),
                session=session,
            )
        self._committed(1)

    def _submit(self, data: dict[str, Any], turn: _TurnContext) -> str:
        cipher, message, now = self.crypto.cipher, turn.message, turn.now
        receipt = generate_receipt()
        story = str(data.get("story") or "")
        phone = data.get("phone")
        chat = data["fields"].get("contact") == "chat"
        report = reports.create_report(
            reports.NewReport(
                fields=data["fields"],
                priority=Priority(data["priority"]),
                danger=bool(data["danger"]),
                locale=str(data["locale"]),
                receipt_hash=self.crypto.hasher.receipt_hash(receipt),
                story=cipher.encrypt_text(story) if story else None,
                story_masked=cipher.encrypt_text(mask_pii(story)) if story else None,
                callback_phone=cipher.encrypt_text(str(phone)) if phone else None,
                reply_channel=message.channel if chat else None,
                reply_address=(
                    cipher.encrypt(ReplyAddress(message.address, turn.reporter_key).to_bytes())
                    if chat
                    else None
                ),
                reply_expires_at=now + self.config.reply_address_ttl if chat else None,
            ),
            now,
            conversation_id=turn.conversation.id if turn.conversation is not None else None,
            sla=self.config.sla,
            unit=turn.unit,
        )
        alerts.queue_new_report_alerts(report, now, unit=turn.unit)
        turn.submitted = True
        return format_receipt(receipt)

    def stop_sending(self, channel: Channel, identity: str) -> int:
        """The reporter blocked the bot: nothing waiting for them is sent any more."""
        with self.database.unit() as session:
            return outbox.drop_for_reporter(
                channel, self.reporter_key(channel, identity), "blocked", session=session
            )

    def notify_reporter(
        self, report: Report, text: str, now: datetime, *, session: Session
    ) -> bool:
        """Queue an officer's message for the reporter's chat, if they chose ``chat`` and the
        address is still kept; ``False`` means it waits for their next ``status``. The sender is
        woken once the caller's transaction commits (not before: it would find nothing)."""
        if report.reply_address is None or report.reply_channel is None:
            return False
        if report.reply_expires_at is not None and report.reply_expires_at < now:
            return False
        cipher = self.crypto.cipher
        reply = ReplyAddress.from_bytes(cipher.decrypt(report.reply_address))
        template = self.flows.catalogue.text("officer.message", report.locale)
        outbound = OutboundMessage(text=template.replace("{text}", text).strip())
        outbox.enqueue(
            Channel(report.reply_channel),
            reply.reporter_key,
            cipher.encrypt_text(reply.address),
            cipher.encrypt(outbound.to_bytes()),
            now,
            session=session,
        )
        event.listen(session, "after_commit", lambda _session: self._committed(1), once=True)
        return True

    def _lookup(self, text: str, turn: _TurnContext) -> UserInput:
        """A receipt look-up, limited per reporter and overall; a locked-out look-up and an unknown
        code get the same answer, so the limit tells a guesser nothing."""
        config, reporter_key, now = self.config, turn.reporter_key, turn.now
        session, unit = turn.unit.session, turn.unit
        failures = ratelimit.count_events(
            RECEIPT_FAILURE, reporter_key, now - config.receipt_window, unit=unit
        )
        overall = ratelimit.count_events(
            RECEIPT_FAILURE_ALL, EVERYONE, now - timedelta(hours=1), unit=unit
        )
        locked = failures >= config.receipt_failures or overall >= config.receipt_failures_per_hour
        report = (
            None
            if locked
            else reports.find_report_by_receipt(text, hasher=self.crypto.hasher, session=session)
        )
        if report is None:
            ratelimit.add_event(RECEIPT_FAILURE, reporter_key, now, unit=unit)
            ratelimit.add_event(RECEIPT_FAILURE_ALL, EVERYONE, now, unit=unit)
            return UserInput(InputKind.event, event=engine.RECEIPT_NOT_FOUND)
        return UserInput(
            InputKind.event,
            event=engine.RECEIPT_FOUND,
            data={
                "report": report.id,
                "status": reports.COARSE_STATUS[ReportStatus(report.status)],
                "messages": self._thread(report, now, session),
                "help": referrals.help_arranged(report.id, session=session),
            },
        )

    def _thread(self, report: Report, now: datetime, session: Session) -> list[dict[str, str]]:
        thread = reports.messages_of(report.id, session=session)[-MESSAGES_SHOWN:]
        shown = []
        for item in thread:
            officer = item.direction == MessageDirection.to_reporter
            if officer and item.seen_at is None:
                item.seen_at = now
                session.add(item)
            shown.append(
                {
                    "from": "officer" if officer else "reporter",
                    "text": self.crypto.cipher.decrypt_text(item.text),
                }
            )
        return shown
