"""Engines and units of work for SQLite (embedded) and PostgreSQL (production)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Engine, make_url
from sqlmodel import Session

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 8 * 1024  # a connection's page cache (four times the default)
# Turns that share one commit at most (SQLite's group commit); more wait for the next.
MAX_GROUP = 256
POOL_SIZE = 10
# PostgreSQL: the threads that run turns side by side (each with a connection of its own), and
# the turns that share a transaction on one of them at most. With groups, 2-3 threads went as
# fast as the server and faster than 4-10 (whose Python took the GIL from each other).
POOL_THREADS = 3
POOL_GROUP = 16
# SQLite: the checkpointer copies the WAL into the database file at most this often (seconds).
CHECKPOINT_PAUSE = 0.2
# SQLite: a WAL longer than this (pages) is copied to its end under the write lock, so that the
# writer can start it over.
CHECKPOINT_RESTART_PAGES = 4000

T = TypeVar("T")
log = logging.getLogger("lapor.db")


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a turn, written for the driver: no SQLAlchemy between the turn and the
    database (a Core statement costs tens of microseconds of Python before the driver sees it).

    ``text`` uses ``?`` placeholders, bound by position; ``lock`` adds ``FOR UPDATE`` on
    PostgreSQL (SQLite's write lock is the whole database, taken at ``BEGIN IMMEDIATE``)."""

    sqlite: str
    postgresql: str

    @classmethod
    def of(cls, text: str, *, lock: bool = False) -> Statement:
        text = " ".join(text.split())
        return cls(text, text.replace("?", "%s") + (" FOR UPDATE" if lock else ""))


# SQLite's text of a UTC time, as SQLAlchemy's DateTime writes it ("%-formatting" is twice as
# fast as isoformat here).
_TIME_FORMAT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"
_TIMES_KEPT = 16


class Unit:
    """A unit of work as a turn sees it: the driver's cursor for its few statements, and an ORM
    session, on the same connection and in the same transaction, for the rare rest (a report's
    submission, a receipt look-up), made when first asked for. Values are bound as the column
    types would bind them, so the ORM reads what the driver wrote: SQLite keeps UTC times as
    ``YYYY-MM-DD HH:MM:SS.ffffff`` text, PostgreSQL as ``timestamptz``."""

    __slots__ = ("_session", "_times", "connection", "cursor", "sqlite")

    def __init__(self, connection: sa.Connection, session: Session | None = None) -> None:
        self.connection = connection
        self._session = session
        # A turn binds the same few times (now, its expiry) in several statements: each
        # formatted once.
        self._times: dict[datetime, str] = {}
        self.sqlite = connection.dialect.name == "sqlite"
        self.cursor: Any = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]

    @classmethod
    def of(cls, session: Session) -> Unit:
        """The unit of work of ``session`` (which has begun), for the turn's functions."""
        return cls(session.connection(), session)

    @property
    def session(self) -> Session:
        if self._session is None:
            # Joins the connection's transaction: it flushes into it and never commits it.
            self._session = Session(bind=self.connection, expire_on_commit=False)
        return self._session

    def run(self, statement: Statement, params: Sequence[Any] = ()) -> Any:
        """Execute; the cursor, to fetch from or read ``rowcount`` of."""
        text = statement.sqlite if self.sqlite else statement.postgresql
        try:
            return self.cursor.execute(text, params)
        except Exception as exc:
            raise self._wrapped(text, exc) from exc

    def first(self, statement: Statement, params: Sequence[Any] = ()) -> Any:
        """The first row (a tuple), or ``None``."""
        return self.run(statement, params).fetchone()

    def run_many(self, statement: Statement, rows: Sequence[Sequence[Any]]) -> None:
        text = statement.sqlite if self.sqlite else statement.postgresql
        try:
            self.cursor.executemany(text, rows)
        except Exception as exc:
            raise self._wrapped(text, exc) from exc

    def _wrapped(self, text: str, error: Exception) -> BaseException:
        """The driver's error as SQLAlchemy would raise it (``OperationalError`` and so on), for
        the same handling as the ORM's (a database away is a 503), without the values bound."""
        dialect = self.connection.dialect
        return sa.exc.DBAPIError.instance(
            text, None, error, dialect.loaded_dbapi.Error, hide_parameters=True, dialect=dialect
        )

    def time(self, value: datetime | None) -> Any:
        """A UTC time as its column stores it (see ``models.UTCDateTime``)."""
        if value is None or not self.sqlite:
            return value
        text = self._times.get(value)
        if text is None:
            if len(self._times) >= _TIMES_KEPT:
                self._times.clear()
            utc = value if value.tzinfo is UTC else value.astimezone(UTC)
            text = self._times[value] = _TIME_FORMAT % (
                utc.year,
                utc.month,
                utc.day,
                utc.hour,
                utc.minute,
                utc.second,
                utc.microsecond,
            )
        return text

    @staticmethod
    def read_time(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            return datetime.fromisoformat(value).replace(tzinfo=UTC)
        return value.astimezone(UTC)  # type: ignore[no-any-return]

    def settle(self) -> None:
        """What the ORM holds of this unit is written now, and forgotten: the turn's savepoint
        then covers it, and a later turn's rollback cannot take it along."""
        session = self._session
        if session is not None and (session.new or session.deleted or len(session.identity_map)):
            session.flush()
            session.expunge_all()

    def forget(self) -> None:
        """After a rollback: the ORM's objects of this unit are no longer in the database."""
        if self._session is not None:
            self._session.expunge_all()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None


_SAVEPOINT = "SAVEPOINT turn"
_RELEASE = "RELEASE SAVEPOINT turn"
_ROLLBACK = "ROLLBACK TO SAVEPOINT turn"


class _Rerun(Exception):
    """Work of a group run without savepoints failed: the group runs again with them."""


@dataclass(frozen=True)
class _Queued:
    work: Callable[[Unit], Any]
    future: Future[Any] | asyncio.Future[Any]
    # The event loop of an ``asyncio`` future (``Database.run``), woken once for its group.
    loop: asyncio.AbstractEventLoop | None = None
    # Whose rows the work locks (a reporter's pseudonym): PostgreSQL's groups run in this order.
    order: str = ""


Outcome = tuple[_Queued, Any, BaseException | None]


def _by_order(queued: _Queued) -> str:
    return queued.order


class _Handover:
    """Completed work handed to whoever waits for it: a thread's future at once, an event
    loop's in that loop, which is woken once for whatever completed since it last was (a
    group, or on PostgreSQL the groups that several threads completed meanwhile: one wake-up a
    turn was a third of a busy loop's time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}

    def settle(self, outcomes: list[Outcome]) -> None:
        by_loop: dict[asyncio.AbstractEventLoop, list[Outcome]] = {}
        for outcome in outcomes:
            loop = outcome[0].loop
            if loop is None:
                _complete(*outcome)
            else:
                by_loop.setdefault(loop, []).append(outcome)
        for loop, completed in by_loop.items():
            with self._lock:
                waiting = self._pending.get(loop)
                if waiting is not None:  # a wake-up is on its way: it takes these too
                    waiting += completed
                    continue
                self._pending[loop] = completed
            try:
                loop.call_soon_threadsafe(self.drain, loop)
            except RuntimeError:  # the loop has closed: nobody is waiting
                with self._lock:
                    self._pending.pop(loop, None)

    def drain(self, loop: asyncio.AbstractEventLoop) -> None:
        """In ``loop``: complete what was handed to it."""
        with self._lock:
            done = self._pending.pop(loop, [])
        for outcome in done:
            if not outcome[0].future.done():  # done: cancelled, the request that waited has gone
                _complete(*outcome)


def _complete(queued: _Queued, value: Any, error: BaseException | None) -> None:
    if error is None:
        queued.future.set_result(value)
    else:
        queued.future.set_exception(error)


class _Checkpointer:
    """SQLite: copies the WAL into the database file on a thread and connection of its own
    (``PRAGMA wal_checkpoint(PASSIVE)``, at most every ``CHECKPOINT_PAUSE``, after commits).

    Left to SQLite, the connection whose commit takes the WAL past 1,000 pages copies it, inside
    that commit: the writer, with a group's turns waiting for their futures while their pages
    were written to the file a second time and the file synced (the group commits that did it
    took 35-45 ms, the others 6-20). A passive checkpoint goes on beside the writer. But the
    writer starts the WAL over only once everything in it has been copied, which a checkpoint
    beside a busy writer never catches up with: when the WAL holds more than
    ``CHECKPOINT_RESTART_PAGES``, the checkpointer copies what the last pass left behind (the
    last group or two) holding the database's write lock, between two groups."""

    def __init__(self, path: Path, writer: threading.RLock) -> None:
        self._path = path
        self._writer = writer
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start = threading.Lock()

    def wake(self, _connection: sa.Connection) -> None:
        """Something committed (SQLAlchemy's ``commit`` event: the commit is under way)."""
        self._wanted.set()
        if self._thread is not None and self._thread.is_alive():
            return
        with self._start:
            if self._stopping.is_set() or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(
                target=self._run, name="lapor-checkpointer", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        connection = sqlite3.connect(
            self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
        )
        try:
            _sqlite_on_connect(connection, None)
            while True:
                self._wanted.wait()
                self._wanted.clear()
                if self._stopping.is_set():
                    return
                try:
                    self._checkpoint(connection)
                except sqlite3.Error:
                    log.warning("checkpoint failed; trying again after the next commit")
                self._stopping.wait(CHECKPOINT_PAUSE)
        finally:
            connection.close()

    def _checkpoint(self, connection: sqlite3.Connection) -> None:
        _busy, pages, _copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        if pages > CHECKPOINT_RESTART_PAGES:
            with self._writer:
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def stop(self) -> None:
        with self._start:
            self._stopping.set()
            self._wanted.set()
            thread = self._thread
        if thread is not None:
            thread.join()


def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def conflict_insert(table: Any, dialect: str) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ``ON CONFLICT`` (do nothing, or update) and ``RETURNING``: both
    backends have them, each through its own dialect's construct."""
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


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
            # The pages a turn touches (the delivery and outbox indexes, conversations) stay in
            # memory: 2 MB by default, so a busy day's indexes went to the file on every insert.
            f"cache_size=-{SQLITE_CACHE_KIB}",
            # A savepoint keeps the pages it changes in a sub-journal, and sorts may need
            # temporary tables: in memory, not in files under /tmp. When every turn had a
            # savepoint, a group of turns went 7 % faster (the sub-journal's writes were a
            # file's system calls); and nothing of the database is written outside its own
            # directory, even briefly.
            "temp_store=MEMORY",
        ):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: sa.Connection) -> None:
    # Every unit of work here writes (even reads are audited), so take the write lock up front:
    # a deferred transaction that later upgrades to a writer fails with SQLITE_BUSY at once,
    # without waiting for busy_timeout, when another writer got there first.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_read_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only=ON")


def create_db_engine(url: str | URL, *, read_only: bool = False) -> Engine:
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
        if read_only:
            # Each statement reads a snapshot of its own (WAL), never waiting for the writer.
            event.listen(engine, "connect", _sqlite_read_only)
        else:
            event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    return sa.create_engine(
        parsed,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
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
        # Work goes in batches: what an event loop's tasks asked for in one of its turns
        # (``run``), or one unit of work (``submit``).
        self._queue: queue.SimpleQueue[list[_Queued] | None] = queue.SimpleQueue()
        self._batches: dict[asyncio.AbstractEventLoop, list[_Queued]] = {}
        self._start = threading.Lock()
        # SQLite: the one writer thread; PostgreSQL: ``POOL_THREADS``.
        self._threads: list[threading.Thread] = []
        self._handover = _Handover()
        self._connections = threading.local()
        self._reader: Engine | None = None
        self._opened: list[sa.Connection] = []
        path = sqlite_path(self.url)
        self._checkpointer: _Checkpointer | None = None
        if path is not None and self._writer is not None:
            self._checkpointer = _Checkpointer(path, self._writer)
            event.listen(self.engine, "connect", _no_autocheckpoint)
            event.listen(self.engine, "commit", self._checkpointer.wake)

    @property
    def backend(self) -> str:
        return self.url.get_backend_name()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A unit that only reads. On SQLite it neither takes the write lock nor waits for the
        writer's group (WAL lets readers go on during a commit): for the sender's look-ups,
        which would otherwise queue behind every group of turns."""
        if self._writer is None or sqlite_path(self.url) is None:  # PostgreSQL, or in memory
            with self.unit() as session:
                yield session
            return
        if self._reader is None:
            with self._start:
                if self._reader is None:
                    self._reader = create_db_engine(self.url, read_only=True)
        with Session(self._reader, expire_on_commit=False) as session:
            yield session

    @contextmanager
    def unit(self) -> Iterator[Session]:
        with (
            self._writer or contextlib.nullcontext(),
            Session(self.engine, expire_on_commit=False) as session,
            session.begin(),
        ):
            yield session

    # -- turns: group commit, on SQLite one group at a time, on PostgreSQL side by side ---------

    def submit(self, work: Callable[[Unit], T]) -> Future[T]:
        """Run ``work`` in a unit of work; the future completes once its commit is durable.

        SQLite has one writer, and each commit waits for the disk (``synchronous=FULL``): one
        writer thread runs whatever work has queued in one transaction and commits once for all
        of them. Work that raises fails alone (its future gets the exception): the group then
        runs again, each in a savepoint of its own (``_commit_group``); a group that fails as a
        whole (the commit itself) runs again one by one, so a neighbour's fault never fails a
        turn. On PostgreSQL ``POOL_THREADS`` threads run groups side by side, each group at most
        ``POOL_GROUP`` units (``_flush``); work submitted from a thread is a group of one."""
        future: Future[T] = Future()
        self._ensure_threads()
        self._queue.put([_Queued(work, future)])
        return future

    async def run(self, work: Callable[[Unit], T], *, order: str = "") -> T:
        """``submit``, awaited in an event loop (the webhooks), which is woken once for all the
        work completed since it last was (a group), not once for each. ``order``: whose rows
        the work locks (see ``_flush``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._ensure_threads()
        batch = self._batches.get(loop)
        if batch is None:
            batch = self._batches[loop] = []
            loop.call_soon(self._flush, loop)
        batch.append(_Queued(work, future, loop, order))
        return await future

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """In ``loop``, after the tasks that ran in one of its turns: queue the work they asked
        for. On SQLite as one batch: put one by one, the writer would take the first few while
        the loop still runs the others' tasks, and commit (an fsync) for each few; and the two
        threads would take the GIL from each other at every statement.

        On PostgreSQL, in groups of ``POOL_GROUP`` that run side by side, each holding its row
        locks to its commit: sorted by ``order`` (stable: one reporter's turns keep theirs), so
        two groups take the same reporters' rows in the same order and never wait for each
        other in a circle (a deadlock, which the server breaks only after a second)."""
        batch = self._batches.pop(loop)
        size = MAX_GROUP
        if self._writer is None:
            batch.sort(key=_by_order)
            size = POOL_GROUP
        for start in range(0, len(batch), size):
            self._queue.put(batch[start : start + size])

    @contextmanager
    def _turn_unit(self) -> Iterator[Unit]:
        """A transaction for turns: on SQLite the writer's; on PostgreSQL one on this pool
        thread's own connection, kept for the thread's life (no check-out, ping and reset a
        group), the ORM session only if asked."""
        if self._writer is not None:
            with self.unit() as session:
                yield Unit.of(session)
            return
        connection = getattr(self._connections, "current", None)
        if connection is None or connection.closed or connection.invalidated:
            connection = self.engine.connect()
            self._connections.current = connection
            with self._start:
                self._opened.append(connection)
        unit = Unit(connection)
        try:
            with connection.begin():
                yield unit
        except Exception:
            if connection.connection.driver_connection.broken:  # type: ignore[union-attr]
                connection.invalidate()  # the server went away: the next group connects anew
            raise
        finally:
            unit.close()

    def _ensure_threads(self) -> None:
        # Alive, not just started: a forked child inherits the attribute but not the threads
        # (which otherwise end only at ``dispose``).
        if self._threads and self._threads[0].is_alive():
            return
        with self._start:
            if self._threads and self._threads[0].is_alive():
                return
            if self._writer is not None:
                loops = [(self._write_loop, "lapor-writer")]
            else:
                loops = [(self._serve_loop, f"lapor-db_{n}") for n in range(POOL_THREADS)]
            threads = [threading.Thread(target=t, name=name, daemon=True) for t, name in loops]
            for thread in threads:
                thread.start()
            self._threads = threads

    def _serve_loop(self) -> None:
        """PostgreSQL: each group of work in a transaction of its own, on this thread's
        connection, beside the other threads' groups."""
        while True:
            group = self._queue.get()
            if group is None:
                return
            self._commit_group(group)

    def _write_loop(self) -> None:
        carried: list[_Queued] | None = None  # a batch that did not fit the group before
        while True:
            group, carried = carried or self._queue.get(), None
            if group is None:
                return
            while len(group) < MAX_GROUP:
                try:
                    batch = self._queue.get_nowait()
                except queue.Empty:
                    break
                if batch is None:
                    self._queue.put(None)  # stop after this group
                    break
                if len(group) + len(batch) > MAX_GROUP:
                    carried = batch
                    break
                group = group + batch
            self._commit_group(group)

    def _commit_group(self, group: list[_Queued]) -> None:
        """Run the group's work in one transaction and commit once. First without savepoints
        (each costs two statements and SQLite's sub-journal of every page a turn changes: about
        6 % of a turn's instructions); if any work fails, the whole transaction rolls back and
        the group runs again with a savepoint for each, where a failure rolls back alone. Work
        may thus run twice before it is committed once: it only writes to the database (what it
        does besides, its caller does once the future completes)."""
        try:
            try:
                outcomes = self._run_group(group, savepoints=False)
            except _Rerun as rerun:
                if len(group) > 1:
                    outcomes = self._run_group(group, savepoints=True)
                else:  # alone, it has failed alone already
                    outcomes = [(group[0], None, rerun.__cause__ or rerun)]
        except Exception:
            log.warning("group commit failed; running its work one by one", exc_info=True)
            for queued in group:
                self._run_alone(queued)
            return
        # Only now, with the commit on disk, does anyone hear of it (outside the write lock).
        self._handover.settle(outcomes)

    def _run_group(self, group: list[_Queued], *, savepoints: bool) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with self._turn_unit() as unit:
            cursor = unit.cursor
            for queued in group:
                if savepoints:
                    # Through the driver: the ORM's nested transaction costs more than a turn.
                    cursor.execute(_SAVEPOINT)
                try:
                    value = queued.work(unit)
                    unit.settle()
                except Exception as exc:
                    if not savepoints:
                        raise _Rerun from exc  # rolls the whole transaction back
                    cursor.execute(_ROLLBACK)
                    cursor.execute(_RELEASE)
                    unit.forget()
                    outcomes.append((queued, None, exc))
                else:
                    if savepoints:
                        cursor.execute(_RELEASE)
                    outcomes.append((queued, value, None))
        return outcomes

    def _run_alone(self, queued: _Queued) -> None:
        """Run ``queued``'s work in a transaction of its own and hand it over."""
        try:
            with self._turn_unit() as unit:
                value = queued.work(unit)
                unit.settle()
        except Exception as exc:
            self._handover.settle([(queued, None, exc)])
        else:
            self._handover.settle([(queued, value, None)])

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
        threads, self._threads = self._threads, []
        for _thread in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()
        with self._start:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        if self._reader is not None:
            self._reader.dispose()
        self.engine.dispose()
