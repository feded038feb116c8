"""Engines and units of work for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str | URL) -> Path | None:
    """The database file of a SQLite URL (None for in-memory or other backends)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook below issue BEGIN itself (pysqlite's own handling defers it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "foreign_keys=ON",
            f"busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
            "secure_delete=ON",
        ):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    # Every unit of work here writes (even reads are audited), so take the write lock up front:
    # a deferred transaction that later upgrades to a writer fails with SQLITE_BUSY at once,
    # without waiting for busy_timeout, when another writer got there first.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str | URL) -> Engine:
    """An engine with the settings this product relies on.

    ``hide_parameters`` keeps bound values (which may be ciphertext or hashes, but also anything a
    future bug passes) out of exception messages and therefore out of logs.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = sqlite_path(parsed)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Only this user may read the database (SQLite gives its -wal and -shm the same mode).
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        engine = sa.create_engine(
            parsed,
            hide_parameters=True,
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(
        parsed,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
    )


class Database:
    """One engine per process; ``unit()`` is a transaction that commits or rolls back whole."""

    def __init__(self, url: str | URL) -> None:
        self.url = make_url(url)
        self.engine = create_db_engine(self.url)
        # SQLite has one writer at a time, and every unit here takes the write lock at BEGIN.
        # Its busy handler polls with growing sleeps, so under load one waiter can lose every
        # race until busy_timeout and fail ("database is locked": seen with 20 officers
        # claiming at once). Threads of this process queue on a lock of ours instead, in turn;
        # the busy handler is left to arbitrate between processes.
        self._writer = threading.RLock() if is_sqlite(self.url) else None

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def unit(self) -> Iterator[Session]:
        with (
            self._writer or contextlib.nullcontext(),
            Session(self.engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    def checkpoint(self) -> bool:
        """SQLite: copy the WAL into the database file and empty it, so that what a purge erased
        (secure_delete zeroes it in the file) does not linger in older WAL frames. False when a
        reader in another process kept it from finishing (the next checkpoint will)."""
        if not is_sqlite(self.url):
            return True
        with self._writer or contextlib.nullcontext():
            connection = self.engine.raw_connection()
            try:
                cursor = connection.cursor()
                busy = cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                cursor.close()
            finally:
                connection.close()
        return not busy

    def ping(self) -> bool:
        try:
            with self.engine.connect() as connection:
                connection.exec_driver_sql("SELECT 1")
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def dispose(self) -> None:
        self.engine.dispose()
