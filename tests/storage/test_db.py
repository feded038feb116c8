from __future__ import annotations

import asyncio
import contextlib
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite
from sqlmodel import SQLModel, col, select

from storage import conversations, inbound
from storage.agencies import create_agency
from storage.crypto import Crypto
from storage.db import POOL_GROUP, Database, Statement, Unit, _Handover, sqlite_path
from storage.migrate import alembic_config, current_revision, head_revision, upgrade
from storage.models import Agency, Channel, ChatMessage, Conversation, Inbound, Report
from storage.receipts import format_receipt, generate_receipt
from storage.reports import find_report_by_receipt
from tests.conftest import _truncate_all


def _agency(database: Database, code: str = "UPTD-TEST") -> int:
    with database.unit() as session:
        agency = create_agency(
            code, "UPTD PPA Uji", regions=["18"], national=False, session=session
        )
        assert agency.id is not None
        return agency.id


def test_database_is_at_the_newest_revision(database_url: str) -> None:
    assert current_revision(database_url) == head_revision()


def test_migrations_match_the_models(database: Database) -> None:
    with database.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert differences == []


def test_migrations_downgrade_and_upgrade_again(database_url: str) -> None:
    command.downgrade(alembic_config(database_url), "base")
    assert current_revision(database_url) is None
    upgrade(database_url)
    assert current_revision(database_url) == head_revision()


def test_sqlite_runs_with_the_safety_pragmas(sqlite_database: Database) -> None:
    with sqlite_database.engine.connect() as connection:
        value = {
            pragma: connection.exec_driver_sql(f"PRAGMA {pragma}").scalar()
            for pragma in (
                "journal_mode",
                "synchronous",
                "foreign_keys",
                "secure_delete",
                "temp_store",
            )
        }
        busy = connection.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert value == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "foreign_keys": 1,
        "secure_delete": 1,
        "temp_store": 2,  # MEMORY: savepoints' sub-journals and sorts write no temporary files
    }
    assert busy is not None
    assert busy >= 5000


def test_a_new_sqlite_database_is_private_to_its_user(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'private.db'}")
    try:
        assert database.ping()
        with database.engine.connect() as connection:
            connection.exec_driver_sql("CREATE TABLE t (x)")
            connection.commit()
        for name in ("private.db", "private.db-wal"):
            assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    finally:
        database.dispose()


def _report_with_receipt(database: Database, crypto: Crypto, reference: str) -> str:
    agency_id = _agency(database)
    receipt = generate_receipt()
    with database.unit() as session:
        session.add(
            Report(
                reference=reference,
                receipt_hash=crypto.hasher.receipt_hash(receipt),
                agency_id=agency_id,
                locale="id",
            )
        )
    return receipt


def test_a_receipt_typed_sloppily_finds_its_report(database: Database, crypto: Crypto) -> None:
    receipt = _report_with_receipt(database, crypto, "R-TEST1")
    shown = format_receipt(receipt)
    typed_forms = [
        shown,
        shown.lower(),
        shown.replace("-", " "),
        receipt,
        f"  {shown.lower().replace('-', '')}  ",
        shown.replace("0", "O").replace("1", "l"),
        shown.replace("1", "I").replace("0", "o"),
    ]
    with database.unit() as session:
        for typed in typed_forms:
            found = find_report_by_receipt(typed, hasher=crypto.hasher, session=session)
            assert found is not None, typed
            assert found.reference == "R-TEST1"
        other = generate_receipt()
        assert find_report_by_receipt(other, hasher=crypto.hasher, session=session) is None
        assert find_report_by_receipt("halo", hasher=crypto.hasher, session=session) is None


def test_the_receipt_itself_is_not_stored(database: Database, crypto: Crypto) -> None:
    receipt = _report_with_receipt(database, crypto, "R-TEST2")
    with database.engine.connect() as connection:
        row = connection.execute(sa.text("SELECT * FROM report")).mappings().one()
    stored = " ".join(str(value) for value in row.values())
    assert receipt not in stored
    assert format_receipt(receipt) not in stored


def test_a_delivery_is_recorded_once(database: Database, crypto: Crypto) -> None:
    key = crypto.hasher.delivery_key("whatsapp", "wamid.HBgLNjI4MTIzNDU2Nzg5MBUCABIYFjNFQjA")
    with database.unit() as session:
        session.add(Inbound(channel=Channel.whatsapp, delivery_key=key, reporter_key="a" * 64))
    with pytest.raises(sa.exc.IntegrityError), database.unit() as session:
        session.add(Inbound(channel=Channel.whatsapp, delivery_key=key, reporter_key="a" * 64))
    with database.unit() as session:
        # The same id on another channel is another delivery.
        session.add(Inbound(channel=Channel.telegram, delivery_key=key, reporter_key="a" * 64))
        assert len(session.exec(select(Inbound)).all()) == 2


def test_a_failed_unit_of_work_leaves_nothing(database: Database) -> None:
    def half_done() -> None:
        with database.unit() as session:
            create_agency("HALF", "Setengah", regions=["18.11"], national=False, session=session)
            raise RuntimeError("crash in the middle of a unit of work")

    with pytest.raises(RuntimeError):
        half_done()
    with database.unit() as session:
        assert session.exec(select(Agency)).all() == []


def test_foreign_keys_are_enforced(database: Database) -> None:
    with pytest.raises(sa.exc.IntegrityError), database.unit() as session:
        session.add(Report(reference="R-ORPHAN", receipt_hash="b" * 64, agency_id=999, locale="id"))


def test_datetimes_come_back_as_aware_utc(database: Database) -> None:
    jakarta = timezone(timedelta(hours=7))
    written = datetime(2026, 11, 22, 21, 30, tzinfo=jakarta)
    with database.unit() as session:
        agency = Agency(code="TZ", name="Zona waktu", created_at=written)
        session.add(agency)
    with database.unit() as session:
        read = session.exec(select(Agency).where(Agency.code == "TZ")).one().created_at
    assert read.tzinfo is not None
    assert read.utcoffset() == timedelta(0)
    assert read == written
    assert read == datetime(2026, 11, 22, 14, 30, tzinfo=UTC)


def _new_conversation(  # noqa: PLR0917 (a test's shorthand)
    unit: Unit, key: str, channel: Channel, snapshot: bytes, burst: int, now: datetime
) -> None:
    """A reporter's first conversation, in the ``ask_story`` step, expiring in 24 hours."""
    state = conversations.ConversationState("report", "ask_story", "id", snapshot, burst, now)
    conversations.save_conversation(
        key, channel, None, state, now, expires_at=now + timedelta(hours=24), unit=unit
    )


def test_what_the_driver_writes_the_orm_reads_and_back(database: Database) -> None:
    """The turn's statements bind values themselves (``Unit``): the ORM must read them exactly,
    and they must read what the ORM wrote."""
    jakarta = timezone(timedelta(hours=7))
    now = datetime(2026, 11, 22, 21, 30, 5, 123456, tzinfo=jakarta)
    with database.unit() as session:
        _new_conversation(Unit.of(session), "k" * 64, Channel.whatsapp, b"\x00snap", 3, now)
    with database.unit() as session:
        row = session.exec(select(Conversation)).one()
        assert (row.channel, row.flow, row.state, row.snapshot) == (
            "whatsapp",
            "report",
            "ask_story",
            b"\x00snap",
        )
        assert row.updated_at == now
        assert row.updated_at.utcoffset() == timedelta(0)
        assert row.expires_at == now + timedelta(hours=24)
        assert row.burst_since == now
        row.expires_at = now + timedelta(minutes=1)
        session.add(row)
    with database.unit() as session:
        live = conversations.lock_conversation("k" * 64, unit=Unit.of(session))
    assert live is not None
    assert live.expires_at == now + timedelta(minutes=1)
    assert live.expires_at.utcoffset() == timedelta(0)
    assert (live.burst_count, live.burst_since, live.snapshot) == (3, now, b"\x00snap")


def test_a_turn_records_its_delivery_and_locks_the_conversation_once(database: Database) -> None:
    """``take_delivery`` (one statement on PostgreSQL, two or three on SQLite): the delivery's
    row, written as done; the reporter's conversation, if any, read and locked until the unit
    ends; the chat's message id, if any, kept for a quick exit; nothing for a duplicate."""
    now = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
    key = "r" * 64
    with database.unit() as session:
        first = inbound.take_delivery(
            Channel.telegram, "d1", key, now, shown=None, unit=Unit.of(session)
        )
        _new_conversation(Unit.of(session), key, Channel.telegram, b"\x01snap", 2, now)
    assert first is not None
    assert first[1] is None
    with database.unit() as session:
        unit = Unit.of(session)
        taken = inbound.take_delivery(Channel.telegram, "d2", key, now, shown=41, unit=unit)
        assert taken is not None
        assert taken[0] > first[0]
        live = taken[1]
        assert live is not None
        assert (live.snapshot, live.burst_count, live.burst_since) == (b"\x01snap", 2, now)
        assert live.expires_at == now + timedelta(hours=24)
        if database.backend == "postgresql":
            other = sa.create_engine(database.url)
            try:
                with other.connect() as connection, pytest.raises(sa.exc.OperationalError):
                    connection.exec_driver_sql(
                        "SELECT id FROM conversation WHERE reporter_key = %s FOR UPDATE NOWAIT",
                        (key,),
                    )
            finally:
                other.dispose()
        again = inbound.take_delivery(Channel.telegram, "d2", key, now, shown=42, unit=unit)
        assert again is None
    with database.unit() as session:
        rows = session.exec(select(Inbound).order_by(col(Inbound.id))).all()
        shown = session.exec(select(ChatMessage)).all()
    assert [(row.status, row.processed_at, row.payload) for row in rows] == [
        ("done", now, None),
        ("done", now, None),
    ]
    assert [(row.reporter_key, row.message_id, row.at) for row in shown] == [(key, 41, now)]


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=7)), timezone(-timedelta(hours=3))]
        ),
    )
)
def test_a_turn_binds_a_time_as_sqlalchemy_writes_it_on_sqlite(moment: datetime) -> None:
    """``Unit.time`` formats what the turn binds itself; it must be SQLAlchemy's text of the same
    UTC time to the character (the ORM reads it, and rows are compared and sorted as text)."""
    dialect = sqlite.dialect()
    bind = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    expected = bind(moment.astimezone(UTC).replace(tzinfo=None))
    unit = Unit.__new__(Unit)
    unit.sqlite, unit._times = True, {}
    assert unit.time(moment) == expected
    assert unit.time(moment) == expected  # and again, from what it remembers


def test_a_reader_does_not_wait_for_the_writer_and_cannot_write(database: Database) -> None:
    _agency(database, "BEFORE")
    writing = threading.Event()
    done = threading.Event()

    def writer() -> None:
        with database.unit() as session:
            create_agency("DURING", "Belum", regions=[], national=False, session=session)
            session.flush()
            writing.set()
            done.wait(30)

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert writing.wait(30)
        read: list[str] = []

        def reader() -> None:
            with database.read() as session:
                read.extend(agency.code for agency in session.exec(select(Agency)).all())

        looking = threading.Thread(target=reader)
        looking.start()
        looking.join(10)
        if database.backend == "sqlite":
            assert read == ["BEFORE"]  # at once, while the writer holds its transaction
    finally:
        done.set()
        thread.join(30)
    looking.join(30)
    assert read == ["BEFORE"]
    if database.backend == "sqlite":
        with database.read() as session:
            session.add(Agency(code="NO", name="Tidak boleh"))
            with pytest.raises(sa.exc.OperationalError, match="readonly"):
                session.flush()


def test_naive_datetimes_are_refused(database: Database) -> None:
    with pytest.raises(sa.exc.StatementError), database.unit() as session:
        session.add(Agency(code="NAIVE", name="Tanpa zona", created_at=datetime(2026, 1, 1)))


def test_concurrent_read_modify_write_loses_nothing(database: Database) -> None:
    """Units of work that read then write, from many threads, neither fail nor lose updates."""
    with database.unit() as session:
        session.add(Agency(code="COUNTER", name="0"))
    threads, rounds = 8, 15
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(rounds):
                with database.unit() as session:
                    agency = session.exec(
                        select(Agency).where(Agency.code == "COUNTER").with_for_update()
                    ).one()
                    agency.name = str(int(agency.name) + 1)
                    session.add(agency)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    with database.unit() as session:
        assert session.exec(select(Agency).where(Agency.code == "COUNTER")).one().name == str(
            threads * rounds
        )


def _add_agency(code: str, *, fail: bool = False) -> Callable[[Unit], str]:
    def work(unit: Unit) -> str:
        create_agency(code, code.title(), regions=[], national=False, session=unit.session)
        if fail:
            raise RuntimeError("this unit of work fails half way")
        return code

    return work


_INSERT_AGENCY = Statement.of(
    "INSERT INTO agency (code, name, national, created_at) VALUES (?, ?, 0, ?)"
)


def _bulky_agencies(prefix: str, rows: int, size: int) -> Callable[[Unit], None]:
    """Work that adds ``rows`` agencies with names of ``size`` characters: pages for the WAL."""

    def work(unit: Unit) -> None:
        at = unit.time(datetime.now(UTC))
        for row in range(rows):
            code = f"{prefix}{row:04d}"
            unit.run(_INSERT_AGENCY, (code, code + "x" * size, at))

    return work


def test_units_submitted_together_share_one_commit_and_a_failure_rolls_back_alone(
    database: Database,
) -> None:
    commits: list[None] = []
    sa.event.listen(database.engine, "commit", lambda _connection: commits.append(None))
    # Hold the write lock while submitting, so that on SQLite all of them wait for one group.
    with database.unit():
        futures = [
            database.submit(_add_agency("FIRST")),
            database.submit(_add_agency("BROKEN", fail=True)),
            database.submit(_add_agency("THIRD")),
        ]
        if database.backend == "sqlite":
            assert not any(future.done() for future in futures)  # not before the commit
    assert futures[0].result(timeout=30) == "FIRST"
    assert futures[2].result(timeout=30) == "THIRD"
    with pytest.raises(RuntimeError):
        futures[1].result(timeout=30)
    with database.unit() as session:
        codes = sorted(agency.code for agency in session.exec(select(Agency)).all())
    assert codes == ["FIRST", "THIRD"]
    if database.backend == "sqlite":
        assert len(commits) == 2  # the unit that held the lock, then the one group
    else:
        assert len(commits) == 3  # PostgreSQL: each submitted alone, on the pool


def _counting_wake_ups(database: Database, callback: Any, wake_ups: list[int]) -> Any:
    """``callback`` as an event loop is asked to call it; if it is the database handing over
    completed work, what it hands over is counted in ``wake_ups`` first."""
    if getattr(callback, "__func__", None) is not _Handover.drain:
        return callback

    def wake(loop: asyncio.AbstractEventLoop) -> None:
        wake_ups.append(len(database._handover._pending.get(loop, [])))
        callback(loop)

    return wake


def test_work_completed_while_the_loop_was_busy_wakes_it_once(database: Database) -> None:
    """Work handed over in five turns of the event loop runs as five groups (on PostgreSQL on
    several of the pool's threads): what completed while the loop was busy is handed over with
    one wake-up, not one each."""
    wake_ups: list[int] = []

    async def busy_loop() -> list[str]:
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
            return original(_counting_wake_ups(database, callback, wake_ups), *args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
        runs = []
        for n in range(5):
            runs.append(asyncio.ensure_future(database.run(_add_agency(f"A{n}"))))
            for _ in range(3):  # the task asks, and its loop's turn ends: the work is queued
                await asyncio.sleep(0)
        time.sleep(2)  # the loop busy (blocked) while the work completes
        return await asyncio.gather(*runs)

    assert asyncio.run(busy_loop()) == [f"A{n}" for n in range(5)]
    assert wake_ups == [5]


def test_work_asked_for_in_one_turn_of_the_loop_is_queued_at_its_end_as_one_group(
    database: Database,
) -> None:
    """Tasks that run in one turn of the event loop (the requests that arrived together, the
    turns that completed together) hand their work over at the end of that turn, as one group:
    not one by one, which let an idle writer take the first alone (and commit for it) while the
    loop was still running the others. PostgreSQL's pool takes at most ``POOL_GROUP`` to a
    transaction."""
    commits: list[None] = []
    sa.event.listen(database.engine, "commit", lambda _connection: commits.append(None))
    count = POOL_GROUP + 2

    async def one_turn() -> list[str]:
        async def ask(code: str) -> str:
            time.sleep(0.02)  # the loop busy (blocked) after each asks: an idle writer could go
            return await database.run(_add_agency(code))

        return await asyncio.gather(*(ask(f"G{n}") for n in range(count)))

    assert asyncio.run(one_turn()) == [f"G{n}" for n in range(count)]
    assert len(commits) == (1 if database.backend == "sqlite" else 2)


def test_units_awaited_in_an_event_loop_share_one_commit_and_one_wake_up(
    database: Database,
) -> None:
    commits: list[None] = []
    sa.event.listen(database.engine, "commit", lambda _connection: commits.append(None))
    wake_ups: list[int] = []

    async def together() -> list[str | BaseException]:
        loop = asyncio.get_running_loop()
        original = loop.call_soon_threadsafe

        def counted(callback: Any, *args: Any, **kwargs: Any) -> Any:
            return original(_counting_wake_ups(database, callback, wake_ups), *args, **kwargs)

        loop.call_soon_threadsafe = counted  # type: ignore[method-assign,assignment]
        started = threading.Event()
        release = threading.Event()

        def hold_the_lock() -> None:
            with database.unit():
                started.set()
                release.wait(30)

        holder = threading.Thread(target=hold_the_lock)
        holder.start()
        started.wait(30)
        runs = [
            asyncio.ensure_future(database.run(_add_agency(code, fail=code == "BROKEN")))
            for code in ("FIRST", "BROKEN", "THIRD")
        ]
        await asyncio.sleep(0.2)  # all three queued behind the lock
        release.set()
        results = await asyncio.gather(*runs, return_exceptions=True)
        holder.join(30)
        return results

    first, broken, third = asyncio.run(together())
    assert (first, third) == ("FIRST", "THIRD")
    assert isinstance(broken, RuntimeError)
    with database.unit() as session:
        codes = sorted(agency.code for agency in session.exec(select(Agency)).all())
    assert codes == ["FIRST", "THIRD"]
    # The unit that held the lock (on SQLite; on PostgreSQL a transaction beside), then the
    # one group; the loop was woken once, for the three of them.
    assert len(commits) == 2
    assert wake_ups == [3]


def test_a_group_runs_its_work_once_and_again_only_after_a_failure(
    sqlite_database: Database,
) -> None:
    """A group runs without savepoints; when a unit fails, the whole transaction rolls back and
    the group runs again with a savepoint each: the units before the failure twice, the rest
    once, and only what did not fail is committed."""
    database = sqlite_database
    runs: Counter[str] = Counter()

    def counted(code: str, *, fail: bool = False) -> Callable[[Unit], str]:
        work = _add_agency(code, fail=fail)

        def run(unit: Unit) -> str:
            runs[code] += 1
            return work(unit)

        return run

    with database.unit():
        futures = [database.submit(counted(code)) for code in ("ONE", "TWO")]
    assert [future.result(timeout=30) for future in futures] == ["ONE", "TWO"]
    assert runs == {"ONE": 1, "TWO": 1}
    runs.clear()
    with database.unit():
        futures = [
            database.submit(counted("FIRST")),
            database.submit(counted("BROKEN", fail=True)),
            database.submit(counted("LAST")),
        ]
    assert futures[0].result(timeout=30) == "FIRST"
    assert futures[2].result(timeout=30) == "LAST"
    with pytest.raises(RuntimeError):
        futures[1].result(timeout=30)
    assert runs == {"FIRST": 2, "BROKEN": 2, "LAST": 1}
    with database.unit() as session:
        codes = sorted(agency.code for agency in session.exec(select(Agency)).all())
    assert codes == ["FIRST", "LAST", "ONE", "TWO"]


def test_a_group_whose_commit_fails_runs_each_unit_again_alone(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = sqlite_database
    failed: list[None] = []

    def writers_commit_fails_once(_connection: sa.Connection) -> None:
        if threading.current_thread().name == "lapor-writer" and not failed:
            failed.append(None)
            raise sa.exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    sa.event.listen(database.engine, "commit", writers_commit_fails_once)
    with database.unit():
        futures = [database.submit(_add_agency(code)) for code in ("ONE", "TWO")]
    assert [future.result(timeout=30) for future in futures] == ["ONE", "TWO"]
    assert failed
    with database.unit() as session:
        assert len(session.exec(select(Agency)).all()) == 2


def test_a_driver_statement_fails_as_sqlalchemy_would_say_it(database: Database) -> None:
    """A statement a turn runs through the driver fails with SQLAlchemy's error (so a database
    that is away is handled as everywhere else: a 503, a turn for the sweeper), its values
    hidden as the engine hides them."""
    missing = Statement.of("SELECT 1 FROM no_such_table WHERE name = ?")
    with database.unit() as session, pytest.raises(sa.exc.DBAPIError) as raised:
        Unit.of(session).first(missing, ("secret-bound-value",))
    assert "no_such_table" in str(raised.value)
    assert "secret-bound-value" not in str(raised.value)


def test_postgresql_groups_side_by_side_take_the_same_rows_in_the_same_order(
    postgres_migrated: str,
) -> None:
    """Two event loops each hand over a batch of two turns, for reporters X and Y, in opposite
    orders; each batch is one transaction on one of the pool's threads, holding its row locks
    to its commit. Taken in the order given, X then Y against Y then X, the two would wait for
    each other until the server broke the deadlock and one group ran again; sorted by whose
    rows they lock, the second waits for the first and nothing runs twice."""
    _truncate_all(postgres_migrated)
    database = Database(postgres_migrated)
    with database.unit() as session:
        for code in ("X", "Y"):
            create_agency(code, code, regions=[], national=False, session=session)
    runs: Counter[str] = Counter()
    both_hold_one = threading.Barrier(2)

    def lock(code: str, batch: str) -> Callable[[Unit], str]:
        def work(unit: Unit) -> str:
            runs[f"{batch}{code}"] += 1
            unit.run(Statement.of("SELECT code FROM agency WHERE code = ?", lock=True), (code,))
            if code == batch[0]:  # the batch's first lock: wait (a while) for the other's
                with contextlib.suppress(threading.BrokenBarrierError):
                    both_hold_one.wait(timeout=2)
            return code

        return work

    def batch(codes: str) -> list[str]:
        async def together() -> list[str]:
            return await asyncio.gather(
                *(database.run(lock(code, codes), order=code) for code in codes)
            )

        return asyncio.run(together())

    try:
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(batch, ["XY", "YX"]))
    finally:
        database.dispose()
    assert results == [["X", "Y"], ["Y", "X"]]
    assert runs == {"XYX": 1, "XYY": 1, "YXX": 1, "YXY": 1}


def test_sqlite_commits_leave_copying_the_wal_to_a_checkpointer_of_its_own(
    sqlite_database: Database,
) -> None:
    """A commit never copies the WAL into the database file (SQLite's automatic checkpoint is
    off on the database's connections: it made the commit that crossed 1,000 pages, and the
    turns waiting for it, wait for the copy and its sync); the checkpointer's thread copies it
    soon after, without anyone else checkpointing."""
    database = sqlite_database
    path = sqlite_path(database.url)
    assert path is not None
    with database.unit() as session:
        assert session.connection().exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
    before = path.stat().st_size
    database.submit(_bulky_agencies("C", 300, 4000)).result(timeout=30)  # over a megabyte
    deadline = time.monotonic() + 30
    while path.stat().st_size < before + 1_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= before + 1_000_000
    assert "lapor-checkpointer" in {thread.name for thread in threading.enumerate()}


def test_a_sqlite_group_takes_whole_batches_up_to_its_limit(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two batches of three queued while the writer is busy, with at most four turns a group:
    the writer commits them as two groups of three (a batch is not split, nor a group
    overfilled: before, the second batch joined the first, six in a group of at most four)."""
    database = sqlite_database
    monkeypatch.setattr("storage.db.MAX_GROUP", 4)
    groups: list[int] = []
    commit_group = database._commit_group

    def counted(group: list[Any]) -> None:
        groups.append(len(group))
        commit_group(group)

    monkeypatch.setattr(database, "_commit_group", counted)
    started, release = threading.Event(), threading.Event()

    def busy(_unit: Unit) -> None:
        started.set()
        release.wait(30)

    async def two_batches() -> list[str]:
        held = database.submit(busy)  # the writer busy meanwhile
        started.wait(30)
        first = asyncio.gather(*(database.run(_add_agency(f"A{n}")) for n in range(3)))
        for _ in range(3):  # the first batch's tasks ask, and the loop's turn ends
            await asyncio.sleep(0)
        second = asyncio.gather(*(database.run(_add_agency(f"B{n}")) for n in range(3)))
        for _ in range(3):
            await asyncio.sleep(0)
        release.set()
        held.result(timeout=30)
        return [*await first, *await second]

    assert asyncio.run(two_batches()) == ["A0", "A1", "A2", "B0", "B1", "B2"]
    assert groups == [1, 3, 3]  # the busy unit, then a group for each batch


def test_sqlite_wal_starts_over_while_the_writer_never_pauses(
    sqlite_database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Commits back to back (a group of one each, every one a few dozen pages): a passive
    checkpoint beside them never reaches the WAL's end, and the writer starts the WAL over only
    once all of it has been copied; so the checkpointer copies the rest under the write lock,
    and the WAL file stays small instead of growing with every commit."""
    database = sqlite_database
    path = sqlite_path(database.url)
    assert path is not None
    monkeypatch.setattr("storage.db.MAX_GROUP", 1)
    monkeypatch.setattr("storage.db.CHECKPOINT_PAUSE", 0.005)
    monkeypatch.setattr("storage.db.CHECKPOINT_RESTART_PAGES", 100)
    commits = 200
    # Each about thirty pages.
    futures = [database.submit(_bulky_agencies(f"{n:03d}-", 30, 3000)) for n in range(commits)]
    for future in futures:
        future.result(timeout=60)
    wal = path.with_name(path.name + "-wal")
    # 200 commits of ~30 pages each: ~24 MB had the WAL never started over.
    assert wal.stat().st_size < 8_000_000
