"""The tables. Nothing here holds a raw chat id, phone number, profile name or username.

Identities are pseudonyms (:meth:`storage.crypto.Hasher.pseudonym`); free text, reply addresses and
callback numbers are ciphertext (``bytes``, ``storage.crypto.FieldCipher``); delivery ids are keyed
hashes. Enumerations are stored as short strings rather than database enum types, so adding a value
is not a migration.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import JSON, Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zones: store UTC, read it aware)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_uuid() -> str:
    return str(uuid.uuid4())


def _optional_time() -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=True)


def _created() -> Any:
    return Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


def _code(length: int = 32, *, index: bool = False, nullable: bool = True) -> Any:
    return Field(
        default=None, sa_type=sa.String(length), index=index, nullable=nullable, max_length=length
    )


def _key() -> Any:
    """A 64-character hex keyed hash (pseudonym, delivery key, receipt hash)."""
    return Field(sa_type=sa.String(64), max_length=64, nullable=False)


def _secret() -> Any:
    """Ciphertext (``FieldCipher``), or nothing."""
    return Field(default=None, sa_type=sa.LargeBinary, nullable=True)


class Channel(StrEnum):
    telegram = "telegram"
    whatsapp = "whatsapp"
    console = "console"


class Role(StrEnum):
    officer = "officer"
    supervisor = "supervisor"
    admin = "admin"


class ReportStatus(StrEnum):
    new = "new"
    claimed = "claimed"
    in_progress = "in_progress"
    referred = "referred"
    resolved = "resolved"
    closed = "closed"


class Priority(StrEnum):
    critical = "critical"
    high = "high"
    normal = "normal"


class InboundStatus(StrEnum):
    received = "received"
    done = "done"
    failed = "failed"


class OutboxStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    delivered = "delivered"
    held = "held"
    failed = "failed"


class Agency(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(sa_type=sa.String(32), max_length=32, unique=True)
    name: str = Field(sa_type=sa.String(200), max_length=200)
    national: bool = False
    created_at: datetime = _created()


class AgencyRegion(SQLModel, table=True):
    """A Kemendagri region (province ``18`` or regency ``18.11``) an agency covers."""

    __tablename__ = "agency_region"

    agency_id: int = Field(foreign_key="agency.id", primary_key=True, ondelete="CASCADE")
    region_code: str = Field(sa_type=sa.String(13), max_length=13, primary_key=True, index=True)


class Officer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(sa_type=sa.String(64), max_length=64, unique=True)
    password_hash: str = Field(sa_type=sa.String(255), max_length=255)
    agency_id: int = Field(foreign_key="agency.id", index=True)
    role: Role = Field(sa_type=sa.String(16), max_length=16)
    active: bool = True
    created_at: datetime = _created()


class Conversation(SQLModel, table=True):
    """One reporter's live conversation: the engine snapshot, encrypted, with an idle expiry."""

    id: int | None = Field(default=None, primary_key=True)
    reporter_key: str = Field(sa_type=sa.String(64), max_length=64, unique=True)
    channel: Channel = Field(sa_type=sa.String(16), max_length=16)
    flow: str = Field(sa_type=sa.String(32), max_length=32)
    state: str = Field(sa_type=sa.String(32), max_length=32)
    locale: str = Field(sa_type=sa.String(8), max_length=8)
    snapshot: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = _created()
    updated_at: datetime = _created()
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    # The reporter's messages counted for the burst limit (bot/limits.py), kept on the row the
    # turn locks and writes anyway: no statement of its own (migration 0006).
    burst_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    burst_since: datetime | None = _optional_time()


class ChatMessage(SQLModel, table=True):
    """A message in a reporter's Telegram chat (theirs or the bot's), by its id in that chat, so
    that a quick exit can delete it. The id means nothing without the chat, which is not kept."""

    __tablename__ = "chat_message"

    id: int | None = Field(default=None, primary_key=True)
    reporter_key: str = Field(sa_type=sa.String(64), max_length=64, index=True)
    message_id: int = Field(sa_type=sa.BigInteger)
    at: datetime = Field(sa_type=UTCDateTime, index=True)


class Inbound(SQLModel, table=True):
    """A delivery from a channel, recorded before the webhook answers 200."""

    __table_args__ = (sa.UniqueConstraint("channel", "delivery_key", name="uq_inbound_delivery"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=sa.String(16), max_length=16)
    delivery_key: str = _key()
    reporter_key: str = _key()
    payload: bytes | None = _secret()
    status: InboundStatus = Field(
        default=InboundStatus.received, sa_type=sa.String(16), max_length=16, index=True
    )
    attempts: int = 0
    received_at: datetime = _created()
    processed_at: datetime | None = _optional_time()


class OutboxMessage(SQLModel, table=True):
    """A message to a reporter, written in the transaction that caused it and sent later."""

    __tablename__ = "outbox"
    __table_args__ = (sa.Index("ix_outbox_due", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: Channel = Field(sa_type=sa.String(16), max_length=16)
    reporter_key: str = Field(sa_type=sa.String(64), max_length=64, index=True)
    address: bytes = Field(sa_type=sa.LargeBinary)
    payload: bytes = Field(sa_type=sa.LargeBinary)
    status: OutboxStatus = Field(default=OutboxStatus.pending, sa_type=sa.String(16), max_length=16)
    attempts: int = 0
    # Of the platform messages this one became (a long text, several lists), how many went out:
    # a retry continues after them instead of sending them twice.
    parts_sent: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime = _created()
    provider_key: str | None = _code(64, index=True)
    last_error: str | None = _code(64)
    created_at: datetime = _created()
    sent_at: datetime | None = _optional_time()


class Report(SQLModel, table=True):
    __table_args__ = (sa.Index("ix_report_queue", "agency_id", "status", "priority", "created_at"),)

    id: str = Field(default_factory=new_uuid, sa_type=sa.String(36), primary_key=True)
    reference: str = Field(sa_type=sa.String(16), max_length=16, unique=True)
    receipt_hash: str = Field(sa_type=sa.String(64), max_length=64, unique=True)
    status: ReportStatus = Field(default=ReportStatus.new, sa_type=sa.String(16), max_length=16)
    priority: Priority = Field(default=Priority.normal, sa_type=sa.String(16), max_length=16)
    # None only when no agency at all covers the report: it waits, never lost, for one to exist.
    agency_id: int | None = Field(default=None, foreign_key="agency.id")
    locale: str = Field(sa_type=sa.String(8), max_length=8)
    danger: bool = False

    category: str | None = _code()
    reporter: str | None = _code()
    victim_age: str | None = _code()
    victim_gender: str | None = _code()
    ongoing: str | None = _code()
    when: str | None = _code()
    province: str | None = _code(13, index=True)
    regency: str | None = _code(13)
    place: str | None = _code()
    perpetrator: str | None = _code()
    lives_with: str | None = _code()
    needs: list[str] = Field(default_factory=list, sa_type=JSON)
    contact: str | None = _code()

    story: bytes | None = _secret()
    story_masked: bytes | None = _secret()
    callback_phone: bytes | None = _secret()
    reply_channel: Channel | None = _code(16)
    reply_address: bytes | None = _secret()
    reply_expires_at: datetime | None = _optional_time()

    created_at: datetime = _created()
    updated_at: datetime = _created()
    claimed_by: int | None = Field(default=None, foreign_key="officer.id", index=True)
    claimed_at: datetime | None = _optional_time()
    sla_due_at: datetime | None = _optional_time()
    closed_at: datetime | None = _optional_time()
    escalated_at: datetime | None = _optional_time()


class EventKind(StrEnum):
    claim = "claim"
    release = "release"
    reassign = "reassign"
    transition = "transition"
    note = "note"
    referral = "referral"
    referral_update = "referral_update"  # a referral accepted, declined, done or revoked
    case = "case"  # the SIMFONI case record changed (issue 15)


class ReportEvent(SQLModel, table=True):
    """The report's timeline: who did what. ``text`` (a note, a referral's note) is encrypted."""

    __tablename__ = "report_event"

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(
        foreign_key="report.id", sa_type=sa.String(36), index=True, ondelete="CASCADE"
    )
    kind: EventKind = Field(sa_type=sa.String(16), max_length=16)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    text: bytes | None = _secret()


class MessageDirection(StrEnum):
    to_reporter = "to_reporter"
    from_reporter = "from_reporter"


class ReportMessage(SQLModel, table=True):
    """A message between officers and the reporter; the text is encrypted."""

    __tablename__ = "report_message"

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(
        foreign_key="report.id", sa_type=sa.String(36), index=True, ondelete="CASCADE"
    )
    direction: MessageDirection = Field(sa_type=sa.String(16), max_length=16)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    text: bytes = Field(sa_type=sa.LargeBinary)
    created_at: datetime = _created()
    seen_at: datetime | None = _optional_time()


class RateEvent(SQLModel, table=True):
    """One counted event (a failed receipt look-up, a message) for limits shared by processes."""

    __tablename__ = "rate_event"
    __table_args__ = (sa.Index("ix_rate_event_lookup", "scope", "key", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    scope: str = Field(sa_type=sa.String(32), max_length=32)
    key: str = Field(sa_type=sa.String(64), max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AttachmentStatus(StrEnum):
    pending = "pending"  # recorded in the turn, waiting for the fetcher
    stored = "stored"
    dropped = "dropped"  # too large, or the platform would not give it


class Attachment(SQLModel, table=True):
    """Evidence: the encrypted bytes live in the media store; the row says what and how big."""

    id: str = Field(default_factory=new_uuid, sa_type=sa.String(36), primary_key=True)
    report_id: str | None = Field(
        default=None,
        foreign_key="report.id",
        sa_type=sa.String(36),
        index=True,
        ondelete="CASCADE",
    )
    conversation_id: int | None = Field(
        default=None, foreign_key="conversation.id", index=True, ondelete="CASCADE"
    )
    kind: str = Field(sa_type=sa.String(16), max_length=16)
    content_type: str = Field(sa_type=sa.String(100), max_length=100)
    size: int
    sha256: str = _key()
    created_at: datetime = _created()
    status: AttachmentStatus = Field(
        default=AttachmentStatus.stored,
        sa_type=sa.String(16),
        max_length=16,
        sa_column_kwargs={"server_default": "stored"},
    )
    # Where to fetch it from (encrypted), until it is fetched.
    source: bytes | None = _secret()
    attempts: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    next_attempt_at: datetime | None = _optional_time()
    last_error: str | None = _code(64)


class AttachmentContent(SQLModel, table=True):
    """An attachment's file, encrypted; apart from the row so that listing never loads it."""

    __tablename__ = "attachment_content"

    attachment_id: str = Field(
        foreign_key="attachment.id", sa_type=sa.String(36), primary_key=True, ondelete="CASCADE"
    )
    data: bytes = Field(sa_type=sa.LargeBinary)


class AuditEvent(SQLModel, table=True):
    """Who did what to which report, when. ``detail`` holds ids and codes, never reporter text."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    action: str = Field(sa_type=sa.String(64), max_length=64, index=True)
    report_id: str | None = Field(
        default=None, foreign_key="report.id", sa_type=sa.String(36), index=True
    )
    detail: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# -- WhatsApp's 24-hour window (issue 12) --------------------------------------------------------


class WindowNotice(StrEnum):
    """Where the template telling a reporter "there is an update" stands in a closed window."""

    claimed = "claimed"  # a sender is sending it now
    sent = "sent"  # it went: nothing more until the reporter writes
    refused = "refused"  # no template could go (or none is configured): the console says so


class WhatsAppWindow(SQLModel, table=True):
    """A WhatsApp reporter's customer-service window, under their pseudonym: only times and a
    state, never an identifier. A reporter's message resets it."""

    __tablename__ = "whatsapp_window"

    reporter_key: str = Field(sa_type=sa.String(64), max_length=64, primary_key=True)
    last_inbound_at: datetime | None = _optional_time()
    # When the oldest message now held for the reporter was written (None: nothing is held).
    held_since: datetime | None = _optional_time()
    notice: WindowNotice | None = _code(16)
    notice_at: datetime | None = _optional_time()


# -- Issue 13 (sender and scale-out): shared send budgets, migration 0011 ------------------------


class SendBudget(SQLModel, table=True):
    """A platform's send rate shared by every process on PostgreSQL (``storage.budgets``): the
    theoretical time of the next send, in seconds since the epoch on the database's clock."""

    __tablename__ = "send_budget"

    name: str = Field(sa_type=sa.String(64), max_length=64, primary_key=True)
    next_slot: float = Field(default=0.0, sa_type=sa.Double())


# The queue's order (priority, then age; see storage.triage.queue_statement), within an agency,
# over all of them (admins) and for one officer's claims ("mine"), so that a page of the queue is
# read from an index, not sorted (nor found by scanning the whole queue in order).
sa.Index(
    "ix_report_agency_order",
    Report.__table__.c.agency_id,  # type: ignore[attr-defined]
    Report.__table__.c.priority,  # type: ignore[attr-defined]
    Report.__table__.c.created_at,  # type: ignore[attr-defined]
    Report.__table__.c.id,  # type: ignore[attr-defined]
)
sa.Index(
    "ix_report_order",
    Report.__table__.c.priority,  # type: ignore[attr-defined]
    Report.__table__.c.created_at,  # type: ignore[attr-defined]
    Report.__table__.c.id,  # type: ignore[attr-defined]
)
sa.Index(
    "ix_report_claimed_order",
    Report.__table__.c.claimed_by,  # type: ignore[attr-defined]
    Report.__table__.c.priority,  # type: ignore[attr-defined]
    Report.__table__.c.created_at,  # type: ignore[attr-defined]
    Report.__table__.c.id,  # type: ignore[attr-defined]
)


# --- officer alerts (issue 12): contact data, Telegram link codes, the alert queue ---------------


class AlertChannel(StrEnum):
    email = "email"
    telegram = "telegram"


class AlertKind(StrEnum):
    new_report = "new_report"
    half_sla = "half_sla"
    referral_pending = "referral_pending"
    # A referral's change, for the other agency's supervisors (CONTRACT §7).
    referral_new = "referral_new"
    referral_accepted = "referral_accepted"
    referral_declined = "referral_declined"
    referral_done = "referral_done"
    referral_revoked = "referral_revoked"


# The alerts that send a receiving agency to its incoming referrals (the report's own page is its
# holder's, and answers "not found" to them).
TO_INCOMING_REFERRALS = frozenset(
    {AlertKind.referral_pending, AlertKind.referral_new, AlertKind.referral_revoked}
)


class AlertStatus(StrEnum):
    pending = "pending"
    sent = "sent"
    failed = "failed"


class OfficerContact(SQLModel, table=True):
    """How to reach an officer when a report needs them: both addresses are ciphertext (never
    searchable, never in a log); the Telegram chat is found again by its keyed hash."""

    __tablename__ = "officer_contact"

    officer_id: int = Field(foreign_key="officer.id", primary_key=True, ondelete="CASCADE")
    on_duty: bool = False
    email: bytes | None = _secret()
    telegram_chat: bytes | None = _secret()
    telegram_key: str | None = Field(
        default=None, sa_type=sa.String(64), max_length=64, unique=True, nullable=True
    )
    updated_at: datetime = _created()


class OfficerLinkCode(SQLModel, table=True):
    """A one-time code that links a Telegram chat to an officer; only its keyed hash is kept."""

    __tablename__ = "officer_link_code"

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(sa_type=sa.String(64), max_length=64, unique=True)
    officer_id: int = Field(foreign_key="officer.id", index=True, ondelete="CASCADE")
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = _optional_time()
    created_at: datetime = _created()


class Alert(SQLModel, table=True):
    """One alert to one officer on one channel: written in the transaction that found the need,
    delivered by the alert sender. The address and the text are not here: both are read when it
    is sent (from ``officer_contact`` and the report), so an alert holds nothing to leak."""

    __table_args__ = (
        sa.UniqueConstraint("report_id", "officer_id", "channel", "kind", name="uq_alert_once"),
        sa.Index("ix_alert_due", "status", "next_attempt_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    report_id: str = Field(
        foreign_key="report.id", sa_type=sa.String(36), index=True, ondelete="CASCADE"
    )
    officer_id: int = Field(foreign_key="officer.id", index=True, ondelete="CASCADE")
    channel: AlertChannel = Field(sa_type=sa.String(16), max_length=16)
    kind: AlertKind = Field(sa_type=sa.String(24), max_length=24)
    status: AlertStatus = Field(default=AlertStatus.pending, sa_type=sa.String(16), max_length=16)
    attempts: int = 0
    next_attempt_at: datetime = _created()
    last_error: str | None = _code(64)
    created_at: datetime = _created()
    sent_at: datetime | None = _optional_time()


# --- referrals between agencies (CONTRACT §7) ----------------------------------------------------


class Service(StrEnum):
    """What an agency offers to referrals."""

    psychosocial = "psychosocial"
    medical = "medical"
    legal = "legal"
    shelter = "shelter"
    police = "police"
    economic = "economic"
    rehabilitation = "rehabilitation"  # Kemensos social rehabilitation, residential or outpatient


class ReferralStatus(StrEnum):
    pending = "pending"
    accepted = "accepted"
    declined = "declined"
    revoked = "revoked"
    done = "done"


class AgencyService(SQLModel, table=True):
    """A service an agency takes referrals for, over the regions it covers."""

    __tablename__ = "agency_service"

    agency_id: int = Field(foreign_key="agency.id", primary_key=True, ondelete="CASCADE")
    service: Service = Field(sa_type=sa.String(16), max_length=16, primary_key=True, index=True)


class Referral(SQLModel, table=True):
    """A hand-over of a report to a service: an agency in the system (``to_agency_id``), which
    answers it, or an organisation outside it (``organisation``, free text). The note, the reason
    for declining and the outcome are officers' words, encrypted like notes."""

    __table_args__ = (sa.Index("ix_referral_incoming", "to_agency_id", "status", "created_at"),)

    id: str = Field(default_factory=new_uuid, sa_type=sa.String(36), primary_key=True)
    report_id: str = Field(
        foreign_key="report.id", sa_type=sa.String(36), index=True, ondelete="CASCADE"
    )
    service: Service = Field(sa_type=sa.String(16), max_length=16)
    status: ReferralStatus = Field(
        default=ReferralStatus.pending, sa_type=sa.String(16), max_length=16
    )
    from_agency_id: int = Field(foreign_key="agency.id", index=True)
    to_agency_id: int | None = Field(default=None, foreign_key="agency.id")
    organisation: str | None = _code(200)
    note: bytes | None = _secret()
    reason: bytes | None = _secret()
    outcome: bytes | None = _secret()
    created_by: int | None = Field(default=None, foreign_key="officer.id")
    answered_by: int | None = Field(default=None, foreign_key="officer.id")
    created_at: datetime = _created()
    updated_at: datetime = _created()


# --- the SIMFONI case record (issue 15) ---------------------------------------------------------


class CaseRecord(SQLModel, table=True):
    """A report as a case in SIMFONI PPA's categories (codes of :mod:`storage.simfoni`), filled
    in by officers. ``from_reporter`` names the fields still holding the value the reporter's
    answers gave. No text: codes, and dates of services."""

    __tablename__ = "case_record"

    report_id: str = Field(
        foreign_key="report.id", sa_type=sa.String(36), primary_key=True, ondelete="CASCADE"
    )
    victim_age_band: str | None = _code(8)
    victim_sex: str | None = _code(1)
    violence_forms: list[str] = Field(default_factory=list, sa_type=JSON)
    place: str | None = _code()
    perpetrator_relation: str | None = _code()
    perpetrator_sex: str | None = _code(1)
    # [{"service": code, "date": "YYYY-MM-DD"}, …]
    services_given: list[dict[str, str]] = Field(default_factory=list, sa_type=JSON)
    from_reporter: list[str] = Field(default_factory=list, sa_type=JSON)
    updated_at: datetime = _created()
    updated_by: int | None = Field(default=None, foreign_key="officer.id")
