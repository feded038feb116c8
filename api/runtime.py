"""The parts a process builds once from its settings and shares: database, keys, flows, inbox."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Gauge
from telegram import Bot
from telegram.request import BaseRequest

from api.escalation import escalate, remind_half_sla
from api.settings import Settings, load_keys
from bot.alerts import (
    AlertSender,
    AlertTransport,
    EmailTransport,
    SmtpServer,
    TelegramAlertTransport,
)
from bot.inbox import DELETABLE, Inbox, InboxConfig
from bot.media import Downloader, FetchConfig, MediaFetcher, WhatsAppDownloader
from bot.officer_bot import OfficerBot
from bot.sender import OutboxSender, Transport, WhatsAppTransport, budget_for
from bot.telegram import DirectRequest, TelegramDownloader, TelegramTransport
from bot.window import Templates, Windows
from flows.loader import load_flows
from flows.regions import Regions
from storage import alerts, chat_messages, conversations, inbound, referrals, retention, triage
from storage.crypto import Crypto
from storage.db import Database
from storage.models import AlertKind, Priority, utcnow
from storage.retention import RetentionPolicy

log = logging.getLogger("lapor.runtime")

# A delivery still unprocessed this long after it was recorded was left by a crash (or a failure).
STALE_INBOUND = timedelta(seconds=30)
# Bot API connections for acknowledging button taps, apart from the sender's (one a thread).
ACKNOWLEDGING_CONNECTIONS = 4


referrals_overdue = Gauge(
    "lapor_referrals_overdue",
    "Referrals to agencies still pending after LAPOR_REFERRAL_PENDING_HOURS",
    multiprocess_mode="max",
)


@dataclass
class Runtime:
    settings: Settings
    database: Database
    crypto: Crypto
    inbox: Inbox
    sender: OutboxSender | None = None
    telegram: TelegramTransport | None = None
    fetcher: MediaFetcher | None = None
    alerts: AlertSender | None = None
    officer_bot: OfficerBot | None = None
    # The sweep's clock (tests move it forward to reach half a report's SLA).
    clock: Callable[[], datetime] = field(default=utcnow)

    def sweep(self) -> None:
        """Finish what a crash left half done, forget drafts nobody came back to (and chat message
        ids too old to delete), remind officers of critical reports half-way through their SLA,
        and escalate critical reports nobody claimed in time."""
        now = self.clock()
        with self.database.unit() as session:
            expired = conversations.delete_expired_conversations(now, session=session)
            chat_messages.prune_messages(now - DELETABLE, session=session)
            waiting = inbound.unprocessed_inbound(now - STALE_INBOUND, limit=100, session=session)
        finished = sum(1 for inbound_id in waiting if self.inbox.process(inbound_id))
        remind_half_sla(self.database, now, timedelta(minutes=self.settings.sla_critical_minutes))
        escalate(self.database, now, webhook_url=self.settings.supervisor_webhook_url)
        self.flag_waiting_referrals(now)
        if expired or finished:
            log.info("swept", extra={"event": "swept", "count": expired + finished})

    def flag_waiting_referrals(self, now: datetime) -> int:
        """Referrals pending longer than LAPOR_REFERRAL_PENDING_HOURS: the receiving agency's
        supervisors are alerted (once per report, supervisor and channel, however many sweeps
        see it), the gauge ``lapor_referrals_overdue`` counts them, the console marks them."""
        hours = self.settings.referral_pending_hours
        with self.database.unit() as session:
            waiting = referrals.pending_too_long(now, hours, session=session)
            for referral in waiting:
                assert referral.to_agency_id is not None  # only referrals within the system
                alerts.queue_agency_alerts(
                    referral.to_agency_id,
                    referral.report_id,
                    AlertKind.referral_pending,
                    now,
                    supervisors_only=True,
                    session=session,
                )
        referrals_overdue.set(len(waiting))
        return len(waiting)

    def purge(self) -> dict[str, int]:
        counts = apply_retention(
            self.database, retention_policy(self.settings), utcnow(), dry_run=False
        )
        log.info("purged", extra={"event": "purged", "count": sum(counts.values())})
        return counts


def apply_retention(
    database: Database, policy: RetentionPolicy, now: datetime, *, dry_run: bool
) -> dict[str, int]:
    """Apply retention (or, ``dry_run``, count what it would take) in one unit of work."""
    with database.unit() as session:
        if dry_run:
            return retention.count_expired(policy, now, session=session)
        counts = retention.purge_expired(policy, now, session=session)
    if not database.checkpoint():
        log.warning("wal checkpoint incomplete", extra={"event": "checkpoint_busy"})
    return counts


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(
        deliveries=timedelta(days=settings.retention_delivery_days),
        closed_reports=timedelta(days=settings.retention_closed_report_days),
        audit_events=timedelta(days=settings.retention_audit_days),
        rate_events=timedelta(hours=settings.retention_rate_event_hours),
    )


def inbox_config(settings: Settings) -> InboxConfig:
    return InboxConfig(
        conversation_ttl=timedelta(hours=settings.conversation_ttl_hours),
        reply_address_ttl=timedelta(days=settings.reply_address_days),
        receipt_failures=settings.receipt_failures,
        receipt_window=timedelta(minutes=settings.receipt_window_minutes),
        receipt_failures_per_hour=settings.receipt_failures_per_hour,
        reports_per_hour=settings.reports_per_hour,
        burst_messages=settings.burst_messages,
        burst_window=timedelta(seconds=settings.burst_seconds),
        sla={
            Priority.critical: timedelta(minutes=settings.sla_critical_minutes),
            Priority.high: timedelta(minutes=settings.sla_high_minutes),
            Priority.normal: timedelta(minutes=settings.sla_normal_minutes),
        },
    )


def build_runtime(
    settings: Settings, *, database: Database | None = None, locale: str | None = None
) -> Runtime:
    crypto = Crypto.from_keys(load_keys(settings))
    database = database or Database(settings.database_url)
    flows = load_flows(
        contacts_file=settings.emergency_contacts_file,
        default_locale=locale or settings.default_locale.value,
    )
    inbox = Inbox(database, crypto, flows, inbox_config(settings))
    templates = Templates.of(
        settings.whatsapp_template,
        settings.whatsapp_template_backup,
        settings.whatsapp_template_lang,
    )
    whatsapp_windows = Windows(database, crypto.hasher, templates)
    inbox.on_wrote = whatsapp_windows.wrote
    transports = channel_transports(settings, database, whatsapp_windows)
    sender = (
        OutboxSender(
            database,
            crypto,
            transports,
            lease=timedelta(seconds=settings.send_lease_seconds),
            threads=settings.send_threads,
            poll=settings.send_poll_seconds,
            clock=utcnow,
        )
        if transports
        else None
    )
    if sender is not None:
        inbox.on_committed = sender.wake  # a turn's replies go out as soon as it commits
    telegram = next((t for t in transports if isinstance(t, TelegramTransport)), None)
    downloaders = evidence_downloaders(settings, telegram)
    fetcher = (
        MediaFetcher(
            database,
            crypto,
            downloaders,
            inbox.notify,
            config=FetchConfig(max_bytes=settings.evidence_max_mb * 1024 * 1024),
            clock=utcnow,
        )
        if downloaders
        else None
    )
    officer_transport = (
        TelegramTransport(
            officer_telegram_bot(settings, sending_request(settings)),
            chat_seconds=settings.telegram_chat_seconds,
        )
        if settings.officer_telegram_enabled
        else None
    )
    officer_bot = (
        OfficerBot(database, crypto, officer_transport, clock=utcnow)
        if officer_transport is not None
        else None
    )
    alert_transports = alert_channels(settings, officer_transport)
    alerts = (
        AlertSender(
            database,
            crypto,
            alert_transports,
            public_url=settings.public_url,
            place_name=place_namer(flows.regions),
            lease=timedelta(seconds=settings.send_lease_seconds),
            clock=utcnow,
        )
        if alert_transports
        else None
    )
    return Runtime(
        settings=settings,
        database=database,
        crypto=crypto,
        inbox=inbox,
        sender=sender,
        telegram=telegram,
        fetcher=fetcher,
        alerts=alerts,
        officer_bot=officer_bot,
    )


def alert_channels(
    settings: Settings, officer_transport: TelegramTransport | None
) -> list[AlertTransport]:
    """A transport for each alert channel that is configured."""
    transports: list[AlertTransport] = []
    if settings.smtp_url is not None and settings.smtp_from:
        server = SmtpServer.from_url(settings.smtp_url.get_secret_value())
        transports.append(EmailTransport(server, settings.smtp_from))
    if officer_transport is not None:
        transports.append(TelegramAlertTransport(officer_transport))
    return transports


def place_namer(regions: Regions) -> Callable[[str | None, str | None], str]:
    """The most specific region name of a report (regency, else province) for an alert."""

    def name(province: str | None, regency: str | None) -> str:
        for code in (regency, province):
            region = regions.get(code) if code else None
            if region is not None:
                return region.name
        return "tidak diketahui"

    return name


def evidence_downloaders(
    settings: Settings, telegram: TelegramTransport | None
) -> list[Downloader]:
    downloaders: list[Downloader] = []
    token = settings.whatsapp_access_token
    if settings.whatsapp_enabled and token is not None:
        downloaders.append(WhatsAppDownloader(settings.whatsapp_api_url, token.get_secret_value()))
    if telegram is not None:
        downloaders.append(TelegramDownloader(telegram))
    return downloaders


def telegram_bot(settings: Settings, request: BaseRequest | None = None) -> Bot:
    """PTB's ``Bot`` for this deployment's Bot API server (``base_url``, ``base_file_url``).
    ``request``: how its calls go (PTB's httpx, in an event loop, unless given: polling, the
    CLI); a transport's is ``sending_request``."""
    assert settings.telegram_token is not None
    return Bot(
        settings.telegram_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
        request=request,
    )


def officer_telegram_bot(settings: Settings, request: BaseRequest | None = None) -> Bot:
    """The officers' bot: its own token, the same Bot API server as the reporters' bot."""
    assert settings.officer_telegram_token is not None
    return Bot(
        settings.officer_telegram_token.get_secret_value(),
        base_url=settings.telegram_api_url,
        base_file_url=settings.telegram_file_url,
        request=request,
    )


def sending_request(settings: Settings) -> DirectRequest:
    """A transport's requests, made in the threads that send: a connection per sender thread,
    and a few for acknowledging button presses and for downloads."""
    return DirectRequest(settings.send_threads + ACKNOWLEDGING_CONNECTIONS)


def channel_transports(
    settings: Settings, database: Database, windows: Windows | None = None
) -> list[Transport]:
    """A transport for every channel that is configured (the settings check they are complete),
    each with its platform's send budget (shared by every process on PostgreSQL); ``windows``
    keeps WhatsApp's 24-hour windows (without, a message outside one just waits)."""
    transports: list[Transport] = []
    if settings.telegram_enabled:
        assert settings.telegram_token is not None
        bot_id = settings.telegram_token.get_secret_value().split(":")[0]  # public, not secret
        transports.append(
            TelegramTransport(
                telegram_bot(settings, sending_request(settings)),
                chat_seconds=settings.telegram_chat_seconds,
                budget=budget_for(database, f"telegram:{bot_id}", settings.telegram_rate),
                side_requests=ACKNOWLEDGING_CONNECTIONS,
            )
        )
    token = settings.whatsapp_access_token
    number = settings.whatsapp_phone_number_id
    if settings.whatsapp_enabled and token is not None and number:
        transports.append(
            WhatsAppTransport(
                settings.whatsapp_api_url,
                number,
                token.get_secret_value(),
                budget=budget_for(database, f"whatsapp:{number}", settings.whatsapp_rate),
                windows=windows,
            )
        )
    return transports


def unrouted_warning(database: Database) -> str | None:
    """A line for the admin when reports have no agency and no national agency can see them."""
    with database.unit() as session:
        waiting, national = triage.unrouted(session=session)
    if waiting and not national:
        return (
            f"{waiting} report(s) match no agency and there is no national agency to receive "
            "them: add one with `lapor agency add CODE --name NAME --national`"
        )
    return None
