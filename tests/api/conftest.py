from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.runtime import Runtime
from api.settings import Settings
from storage.agencies import create_agency
from storage.crypto import Keys
from storage.db import Database, Unit
from storage.masking import mask_pii
from storage.models import Attachment, AttachmentContent, Officer, Priority, Role, Service
from storage.officers import hash_password
from storage.reports import NewReport, create_report
from tests.support import Phone


def make_settings(tmp_path: Path, keys: Keys, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": keys.secret_key,
        "pseudonym_key": keys.pseudonym_key,
        "data_keys": ",".join(keys.data_keys),
        "state_dir": tmp_path / "state",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def app(tmp_path: Path, keys: Keys, database: Database) -> FastAPI:
    settings = make_settings(tmp_path, keys, database_url=database.url.render_as_string(False))
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


PASSWORD = "kata-sandi-yang-panjang"
_password_hash: list[str] = []


def _hashed() -> str:
    # One argon2 hash for every test officer: hashing is slow on purpose.
    if not _password_hash:
        _password_hash.append(hash_password(PASSWORD))
    return _password_hash[0]


@dataclass
class Desk:
    """A triage desk for tests: agencies, officers and reports, and the API to use them."""

    client: TestClient
    runtime: Runtime

    @property
    def database(self) -> Database:
        return self.runtime.database

    def agency(
        self,
        code: str,
        *,
        national: bool = False,
        regions: tuple[str, ...] = (),
        services: tuple[Service, ...] = (),
    ) -> int:
        with self.database.unit() as session:
            agency = create_agency(
                code,
                f"Agency {code}",
                regions=list(regions),
                national=national,
                services=list(services),
                session=session,
            )
            assert agency.id is not None
            return agency.id

    def officer(self, username: str, agency_id: int, role: Role = Role.officer) -> int:
        with self.database.unit() as session:
            officer = Officer(
                username=username, password_hash=_hashed(), agency_id=agency_id, role=role
            )
            session.add(officer)
            session.flush()
            assert officer.id is not None
            return officer.id

    def login(self, username: str) -> dict[str, str]:
        response = self.client.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}

    def report(
        self,
        *,
        province: str = "33",
        regency: str | None = None,
        priority: Priority = Priority.normal,
        needs: tuple[str, ...] = ("counselling",),
        created_at: datetime | None = None,
        category: str = "sexual",
        story: str | None = None,
        callback: str | None = None,
        answers: dict[str, str] | None = None,
    ) -> str:
        cipher = self.runtime.crypto.cipher
        now = created_at or datetime.now(UTC)
        with self.database.unit() as session:
            report = create_report(
                NewReport(
                    fields={
                        "category": category,
                        "province": province,
                        "regency": regency,
                        "victim_age": "child",
                        "needs": list(needs),
                        "contact": "phone" if callback else "anonymous",
                        **(answers or {}),
                    },
                    priority=priority,
                    danger=priority is Priority.critical,
                    locale="id",
                    receipt_hash=secrets.token_hex(32),
                    story=cipher.encrypt_text(story) if story else None,
                    story_masked=cipher.encrypt_text(mask_pii(story)) if story else None,
                    callback_phone=cipher.encrypt_text(callback) if callback else None,
                    reply_channel=None,
                    reply_address=None,
                ),
                now,
                conversation_id=None,
                unit=Unit.of(session),
            )
            return report.id

    def attachment(self, report_id: str, content: bytes = b"JPEG") -> str:
        """A stored evidence photo on the report; its id."""
        cipher = self.runtime.crypto.cipher
        with self.database.unit() as session:
            attachment = Attachment(
                report_id=report_id,
                kind="photo",
                content_type="image/jpeg",
                size=len(content),
                sha256="0" * 64,
            )
            session.add(attachment)
            session.flush()
            data = cipher.encrypt(content)
            session.add(AttachmentContent(attachment_id=attachment.id, data=data))
            return attachment.id

    def phone(self, identity: str) -> Phone:
        return Phone(self.runtime.inbox, identity)


@pytest.fixture
def desk(client: TestClient, app: FastAPI) -> Desk:
    return Desk(client=client, runtime=app.state.runtime)


@pytest.fixture
def team(desk: Desk) -> dict[str, int]:
    """Two agencies (Central Java, Lampung) and their people, by name: their ids."""
    central = desk.agency("JATENG", regions=("33",))
    other = desk.agency("LAMPUNG", regions=("18",))
    return {
        "central": central,
        "other": other,
        "sari": desk.officer("sari", central),
        "budi": desk.officer("budi", central),
        "kepala": desk.officer("kepala", central, Role.supervisor),
        "lampung": desk.officer("lampung", other),
    }
