"""The tables. Nothing here holds a raw chat id, phone number, profile name or username.

Identities are pseudonyms (:meth:`storage.crypto.Hasher.pseudonym`); free text, reply addresses and
callback numbers are Fernet ciphertext (``bytes``); delivery ids are keyed hashes. Enumerations are
stored as short strings rather than database enum types, so adding a value is not a migration.
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
    """Fernet ciphertext, or nothing."""
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
