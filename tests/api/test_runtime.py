"""The sweeper: what a crash left half done is finished; forgotten drafts go."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import func, select

from api.main import create_app
from api.runtime import STALE_INBOUND, build_runtime
from bot.messages import InboundMessage
from flows.types import UserInput
from storage.audit import record
from storage.crypto import Keys
from storage.db import Database
from storage.models import (
    AuditEvent,
    Channel,
    Conversation,
    Inbound,
    InboundStatus,
    OutboxMessage,
)
from tests.api.conftest import make_settings


def test_the_sweeper_finishes_recorded_deliveries_and_deletes_expired_drafts(
    tmp_path: Path, keys: Keys, database: Database
) -> None:
    settings = make_settings(tmp_path, keys, database_url=database.url.render_as_string(False))
    runtime = build_runtime(settings, database=database)
    inbox = runtime.inbox
    old = datetime.now(UTC) - timedelta(days=2)
    inbox.clock = lambda: old
    # A conversation nobody came back to…
    inbox.handle(InboundMessage(Channel.telegram, "u-1", "111", "111", UserInput.typed("halo")))
    # …and a delivery recorded just before a crash, never processed.
    recorded = inbox.record(
        InboundMessage(Channel.telegram, "u-2", "222", "222", UserInput.typed("halo"))
    )
    assert recorded is not None
    inbox.clock = lambda: datetime.now(UTC)
    assert old < datetime.now(UTC) - STALE_INBOUND

    runtime.sweep()

    with database.unit() as session:
        statuses = session.exec(select(Inbound.status)).all()
        assert statuses == [InboundStatus.done, InboundStatus.done]
        conversations = session.exec(select(Conversation)).all()
        # The expired one is gone; the one the sweeper just processed is fresh.
        assert len(conversations) == 1
        assert conversations[0].reporter_key == inbox.reporter_key(Channel.telegram, "222")
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2
    runtime.sweep()  # nothing left to do, nothing done twice
    with database.unit() as session:
        assert session.exec(select(func.count()).select_from(OutboxMessage)).one() == 2


def test_a_running_app_applies_retention_by_itself(
    tmp_path: Path, keys: Keys, database: Database
) -> None:
    with database.unit() as session:
        record("login.failed", datetime.now(UTC) - timedelta(days=400), session=session)
        record("login.failed", datetime.now(UTC), session=session)
    settings = make_settings(
        tmp_path, keys, database_url=database.url.render_as_string(False), sweep_seconds=0.05
    )
    with TestClient(create_app(settings, database=database)):
        deadline = time.monotonic() + 20
        while audit_events(database) != 1:
            assert time.monotonic() < deadline, "the app did not purge"
            time.sleep(0.05)


def audit_events(database: Database) -> int:
    with database.unit() as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())
