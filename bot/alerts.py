"""Officer alerts: delivered by e-mail and through the officers' own Telegram bot.

The alert queue (``storage.alerts``) is filled in the transactions that find a report needing
someone; this sender leases due alerts (``SKIP LOCKED``: several processes share the queue),
sends outside the transaction, and records the outcome with retries and backoff like the outbox.
An alert says only the report's reference, its priority, the regency or province, the time it
was received and the console link: never what the reporter wrote or chose. Addresses are
decrypted only to send and never logged.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from enum import StrEnum
from typing import Protocol
from urllib.parse import unquote, urlsplit

from bot import metrics
from bot.messages import OutboundMessage
from bot.sender import Backoff, Outcome, Result
from bot.telegram import BLOCKED, TelegramTransport
from storage import alerts, officer_contacts
from storage.alerts import AlertWork
from storage.crypto import Crypto, DecryptionError
from storage.db import Database
from storage.models import TO_INCOMING_REFERRALS, AlertChannel, AlertKind, Priority

log = logging.getLogger("lapor.alerts")

WIB = timezone(timedelta(hours=7), "WIB")
PRIORITY_WORDS = {
    Priority.critical: "KRITIS",
    Priority.high: "TINGGI",
    Priority.normal: "BIASA",
}
SMTP_TIMEOUT = 15.0


@dataclass(frozen=True)
class AlertText:
    subject: str
    body: str


# The words of a referral's change (the service and the agencies are not said: the console does).
REFERRAL_CHANGES = {
    AlertKind.referral_new: ("baru", "Ada rujukan baru untuk lembaga Anda."),
    AlertKind.referral_accepted: ("diterima", "Rujukan lembaga Anda untuk laporan ini diterima."),
    AlertKind.referral_declined: ("ditolak", "Rujukan lembaga Anda untuk laporan ini ditolak."),
    AlertKind.referral_done: ("selesai", "Rujukan lembaga Anda untuk laporan ini selesai."),
    AlertKind.referral_revoked: ("ditarik", "Rujukan untuk lembaga Anda ditarik kembali."),
}


def compose(work: AlertWork, place: str, public_url: str) -> AlertText:
    """The alert's words (Indonesian, the officers' language): the fixed facts and nothing else."""
    level = PRIORITY_WORDS[work.priority]
    # The receiving agency of a referral reads it under "Rujukan masuk" (the report's own page is
    # its holder's).
    page = "referrals" if work.kind in TO_INCOMING_REFERRALS else f"reports/{work.report_id}"
    link = f"{public_url.rstrip('/')}/console/{page}"
    received = work.received_at.astimezone(WIB).strftime("%d-%m-%Y %H:%M WIB")
    match work.kind:
        case AlertKind.half_sla:
            subject = f"[Lapor Aman] Pengingat: laporan {level} {work.reference} belum diambil"
            opening = (
                "Laporan ini belum diambil oleh siapa pun dan sudah lewat separuh batas waktunya."
            )
        case AlertKind.referral_pending:
            subject = f"[Lapor Aman] Rujukan menunggu jawaban: laporan {work.reference}"
            opening = "Rujukan untuk laporan ini menunggu jawaban lembaga Anda."
        case kind if kind in REFERRAL_CHANGES:
            change, opening = REFERRAL_CHANGES[kind]
            subject = f"[Lapor Aman] Rujukan {change}: laporan {work.reference}"
        case _:
            subject = f"[Lapor Aman] Laporan {level} {work.reference}"
            opening = f"Laporan baru dengan prioritas {level} masuk ke antrean lembaga Anda."
    body = "\n".join(
        (
            opening,
            "",
            f"Referensi: {work.reference}",
            f"Prioritas: {level}",
            f"Wilayah: {place}",
            f"Diterima: {received}",
            f"Buka di konsol: {link}",
            "",
            "Anda menerima pesan ini karena sedang piket (atau sebagai supervisor) di Lapor Aman.",
        )
    )
    return AlertText(subject=subject, body=body)


class AlertTransport(Protocol):
    channel: AlertChannel

    def send(self, address: str, text: AlertText) -> Outcome: ...


class SmtpSecurity(StrEnum):
    none = "smtp"
    starttls = "smtp+starttls"
    tls = "smtps"


DEFAULT_PORTS = {SmtpSecurity.none: 25, SmtpSecurity.starttls: 587, SmtpSecurity.tls: 465}


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    security: SmtpSecurity
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """``smtp://[user:password@]host[:port]``, ``smtp+starttls://…`` or ``smtps://…``."""
        parts = urlsplit(url)
        try:
            security = SmtpSecurity(parts.scheme.lower())
            port = parts.port
        except ValueError:
            raise ValueError(
                "LAPOR_SMTP_URL must be smtp://, smtp+starttls:// or smtps://host[:port]"
            ) from None
        if not parts.hostname:
            raise ValueError("LAPOR_SMTP_URL has no host")
        return cls(
            host=parts.hostname,
            port=port or DEFAULT_PORTS[security],
            security=security,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class EmailTransport:
    """Plain-text e-mail through the standard library's SMTP client (the sender runs in a worker
    thread, so a slow server blocks no event loop)."""

    channel = AlertChannel.email

    def __init__(self, server: SmtpServer, sender: str) -> None:
        self.server = server
        self.sender = sender

    def _connect(self) -> smtplib.SMTP:
        server = self.server
        if server.security is SmtpSecurity.tls:
            return smtplib.SMTP_SSL(
                server.host, server.port, timeout=SMTP_TIMEOUT, context=ssl.create_default_context()
            )
        client = smtplib.SMTP(server.host, server.port, timeout=SMTP_TIMEOUT)
        if server.security is SmtpSecurity.starttls:
            client.starttls(context=ssl.create_default_context())
        return client

    def send(self, address: str, text: AlertText) -> Outcome:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = address
        message["Subject"] = text.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(domain=self.sender.rpartition("@")[2] or None)
        message.set_content(text.body)
        try:
            with self._connect() as client:
                if self.server.username is not None:
                    client.login(self.server.username, self.server.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused:
            return Outcome(Result.failed, 0, error="smtp:recipient_refused")
        except smtplib.SMTPResponseException as exc:
            # 5xx is the server's final word on this message; 4xx asks us to come back later.
            final = 500 <= exc.smtp_code < 600 and not isinstance(
                exc, smtplib.SMTPAuthenticationError
            )
            return Outcome(
                Result.failed if final else Result.retry, 0, error=f"smtp:{exc.smtp_code}"
            )
        except (smtplib.SMTPException, OSError) as exc:
            return Outcome(Result.retry, 0, error=f"smtp:{type(exc).__name__}")
        return Outcome(Result.sent, 1)


class TelegramAlertTransport:
    """Alerts through the officers' bot: the reporters' transport, with the officers' token."""

    channel = AlertChannel.telegram

    def __init__(self, transport: TelegramTransport) -> None:
        self.transport = transport

    def send(self, address: str, text: AlertText) -> Outcome:
        return self.transport.send(
            address, OutboundMessage(text=f"{text.subject}\n\n{text.body}"), 0
        )


class AlertSender:
    def __init__(
        self,
        database: Database,
        crypto: Crypto,
        transports: list[AlertTransport],
        *,
        public_url: str,
        place_name: Callable[[str | None, str | None], str],
        backoff: Backoff | None = None,
        lease: timedelta = timedelta(minutes=2),
        batch: int = 50,
        clock: Callable[[], datetime],
    ) -> None:
        self.database = database
        self.crypto = crypto
        self.transports = {transport.channel: transport for transport in transports}
        self.public_url = public_url
        self.place_name = place_name
        self.backoff = backoff or Backoff(max_attempts=12)
        self.lease = lease
        self.batch = batch
        self.clock = clock

    def run_once(self) -> int:
        """One round: how many alerts it tried."""
        with self.database.unit() as session:
            due = alerts.claim_due(
                list(self.transports), self.clock(), self.lease, limit=self.batch, session=session
            )
        for work in due:
            self._deliver(work)
        return len(due)

    def _deliver(self, work: AlertWork) -> None:
        transport = self.transports[work.channel]
        outcome = Outcome(Result.failed, 0, error="no_address")
        if work.address is not None:
            try:
                address = self.crypto.cipher.decrypt_text(work.address)
            except DecryptionError:
                address = None
                outcome = Outcome(Result.failed, 0, error="undecryptable")
            if address is not None:
                text = compose(work, self.place_name(work.province, work.regency), self.public_url)
                try:
                    outcome = transport.send(address, text)
                except Exception:
                    # Logged without the exception's text: it may quote the address.
                    log.error("alert send crashed", extra={"event": "alert_send_crashed"})
                    outcome = Outcome(Result.retry, 0, error="exception")
        with self.database.unit() as session:
            alert = alerts.lock_pending(work.alert_id, session=session)
            if alert is None:
                return
            now = self.clock()
            if outcome.result is Result.sent:
                alerts.mark_sent(alert, now, session=session)
                result = "sent"
            elif outcome.result is Result.retry and alert.attempts + 1 < self.backoff.max_attempts:
                delay = self.backoff.delay(alert.attempts, outcome.retry_after)
                alerts.retry_later(
                    alert, now + timedelta(seconds=delay), outcome.error, session=session
                )
                result = "retry"
            else:
                alerts.give_up(alert, outcome.error, session=session)
                result = "failed"
                if work.channel is AlertChannel.telegram and outcome.error == BLOCKED:
                    officer_contacts.forget_chat(alert.officer_id, now, session=session)
        metrics.alerts.labels(channel=work.channel.value, result=result).inc()
        if result != "sent":
            log.warning(
                "alert not delivered",
                extra={
                    "event": "alert_failed" if result == "failed" else "alert_retry",
                    "channel": work.channel.value,
                    "error_type": outcome.error,
                },
            )
