"""Shared fixtures: keys, and a migrated database on SQLite and (when available) PostgreSQL.

Tests that take ``database`` run once per backend (ids ``[sqlite]`` and ``[postgresql]``).
PostgreSQL comes from ``LAPOR_TEST_DATABASE_URL`` or a throwaway server started here
(tests/pgserver.py). Where neither is possible the PostgreSQL runs are skipped with the reason,
unless ``LAPOR_REQUIRE_POSTGRES=1`` (CI), where that is an error.
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, settings
from sqlmodel import SQLModel

from bot.inbox import Inbox
from flows.loader import load_flows
from flows.machine import Flows
from storage.crypto import Crypto, Keys, generate_data_key, generate_secret
from storage.db import Database
from storage.migrate import upgrade
from tests.pgserver import PostgresServer, PostgresUnavailable, start_postgres

BACKENDS = ("sqlite", "postgresql")

# `make fuzz` (LAPOR_HYPOTHESIS_PROFILE=fuzz) gives every test without its own max_examples,
# the fuzz tests in particular, 100,000 inputs; `make test` keeps hypothesis's default depth.
settings.register_profile(
    "fuzz",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("LAPOR_HYPOTHESIS_PROFILE", "default"))
_backend_outcomes: Counter[tuple[str, str]] = Counter()
_postgres_skip_reason: list[str] = []


@pytest.fixture
def keys() -> Keys:
    return Keys(
        secret_key=generate_secret(),
        pseudonym_key=generate_secret(),
        data_keys=[generate_data_key()],
    )


@pytest.fixture
def crypto(keys: Keys) -> Crypto:
    return Crypto.from_keys(keys)


@pytest.fixture(scope="session")
def flows() -> Flows:
    return load_flows()


@pytest.fixture
def inbox(database: Database, crypto: Crypto, flows: Flows) -> Inbox:
    return Inbox(database, crypto, flows)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database migrated once per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    given = os.environ.get("LAPOR_TEST_DATABASE_URL")
    if given:
        yield given
        return
    server = _start_or_skip()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def private_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of the test's own, migrated, which it may crash and start again."""
    server = _start_or_skip(durable=True)
    try:
        upgrade(server.url)
        yield server
    finally:
        server.stop()


def _start_or_skip(*, durable: bool = False) -> PostgresServer:
    try:
        return start_postgres(durable=durable)
    except PostgresUnavailable as error:
        reason = f"PostgreSQL unavailable: {error}"
        if os.environ.get("LAPOR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason} (LAPOR_REQUIRE_POSTGRES=1)", pytrace=False)
        _postgres_skip_reason.append(reason)
        pytest.skip(reason)


@pytest.fixture(scope="session")
def postgres_migrated(postgres_url: str) -> str:
    engine = sa.create_engine(postgres_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP SCHEMA public CASCADE")
        connection.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    upgrade(postgres_url)
    return postgres_url


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "lapor.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    url: str = request.getfixturevalue("postgres_migrated")
    _truncate_all(url)
    yield url


def _truncate_all(url: str) -> None:
    tables = ", ".join(f'"{table.name}"' for table in SQLModel.metadata.sorted_tables)
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture
def sqlite_database(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """For what only SQLite has (pragmas, the file on disk)."""
    path = tmp_path / "lapor.db"
    shutil.copyfile(sqlite_template, path)
    db = Database(f"sqlite:///{path}")
    try:
        yield db
    finally:
        db.dispose()


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        db.dispose()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when != "call" and not (report.when == "setup" and report.skipped):
        return
    for backend in BACKENDS:
        if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
            _backend_outcomes[(backend, report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _backend_outcomes:
        return
    terminalreporter.section("database backends")
    for backend in BACKENDS:
        counts = ", ".join(
            f"{count} {outcome}"
            for (name, outcome), count in sorted(_backend_outcomes.items())
            if name == backend
        )
        terminalreporter.write_line(f"{backend}: {counts or 'no tests'}")
    for reason in _postgres_skip_reason:
        terminalreporter.write_line(f"WARNING: {reason}", yellow=True, bold=True)
