"""Durable turns in process (no HTTP): the real flow walked by many reporters at once.

Run: ``.venv/bin/python bench/turn_bench.py [sqlite|postgresql|both] [turns] [--memory[=N]]
[--profile]``

Each reporter walks the whole report flow (21 turns, the last one submits a report) and a new
reporter takes its place, ``REPORTERS`` of them at a time, each waiting for its previous turn to be
durable before sending the next (as a platform waits for the webhook's 200). Turns go through
``Inbox.take``, the path the webhooks take: on SQLite (``synchronous=FULL``) the group commit,
on PostgreSQL (a throwaway server with ``fsync`` and ``synchronous_commit`` on) the pool.

Compared, in the same run on the same database: the same turns one at a time (one commit per
turn, the design before group commit) and a bare durable commit of one small row (what one fsync
costs here). Targets: ≥ 2,000 turns/s on SQLite, ≥ 1,000 on PostgreSQL. The measured run is
also timed by fifths (median and range), since this machine's pace drifts within a run.
``--memory[=N]``: RSS after N turns and after 10 N (10,000 and 100,000 by default; target:
within 10 %).
``--profile`` (SQLite): cProfile of turns run one at a time in the writer thread, the commit
included.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import itertools
import pstats
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, ".")

import sqlalchemy as sa

from api.main import collector_tuned
from bot.inbox import Inbox
from bot.messages import InboundMessage
from flows.loader import load_flows
from flows.types import UserInput
from storage.crypto import Crypto, Keys, generate_data_key, generate_secret
from storage.db import Database, create_db_engine
from storage.migrate import upgrade
from storage.models import Channel
from tests.pgserver import start_postgres
from tests.support import AFTER_REGION, REPORT_PATH, STORY

REPORTERS = 256
CHUNKS = 5
PROFILE_SORT = "tottime"
SCRIPT = [
    UserInput.typed("halo"),
    *map(UserInput.pressed, REPORT_PATH),
    UserInput.typed("lampung"),
    UserInput.typed("mesuji"),
    *map(UserInput.pressed, AFTER_REGION),
    UserInput.typed(STORY),
    *map(UserInput.pressed, ("story:done", "evidence:skip", "needs:legal", "needs:done")),
    *map(UserInput.pressed, ("contact:chat", "review:submit")),
]


class Walkers:
    """Reporters, each walking the flow once; half on WhatsApp, half on Telegram."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.reporters = itertools.count()
        self.deliveries = itertools.count()

    def walk(self) -> Iterator[InboundMessage]:
        reporter = next(self.reporters)
        channel = Channel.whatsapp if reporter % 2 else Channel.telegram
        identity = f"{self.prefix}{reporter:09d}"
        for user_input in SCRIPT:
            delivery = next(self.deliveries)
            yield InboundMessage(
                channel=channel,
                delivery_id=f"{self.prefix}-{delivery}",
                identity=identity,
                address=identity,
                input=user_input,
                message_id=delivery if channel is Channel.telegram else None,
            )


async def concurrent_turns(
    inbox: Inbox, walkers: Walkers, turns: int, *, chunks: int = 1
) -> list[float]:
    """Turns per second with ``REPORTERS`` reporters at once: the whole run's rate, then the
    rate of each of ``chunks`` consecutive equal parts of it (the reporters walk on across them)."""
    left, done = turns, 0
    size = max(1, turns // chunks)
    marks = [time.perf_counter()]

    async def reporter() -> None:
        nonlocal left, done
        while left > 0:
            for message in walkers.walk():
                if left <= 0:
                    return
                left -= 1
                await inbox.take(message)
                done += 1
                if done % size == 0:
                    marks.append(time.perf_counter())

    await asyncio.gather(*(reporter() for _ in range(REPORTERS)))
    whole = turns / (time.perf_counter() - marks[0])
    return [whole, *(size / (after - before) for before, after in itertools.pairwise(marks))]


def sequential_turns(inbox: Inbox, walkers: Walkers, turns: int) -> float:
    messages = itertools.chain.from_iterable(walkers.walk() for _ in itertools.count())
    started = time.perf_counter()
    for message in itertools.islice(messages, turns):
        inbox.handle(message)
    return turns / (time.perf_counter() - started)


def bare_commits(database: Database, commits: int) -> float:
    """One small row a transaction, durably committed: the disk's (or server's) own pace."""
    engine = create_db_engine(database.url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_bare (value INTEGER)")
    started = time.perf_counter()
    for value in range(commits):
        with engine.begin() as connection:
            connection.execute(sa.text("INSERT INTO bench_bare VALUES (:v)"), {"v": value})
    rate = commits / (time.perf_counter() - started)
    engine.dispose()
    return rate


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def keys() -> Keys:
    return Keys(generate_secret(), generate_secret(), [generate_data_key()])


def bench(backend: str, url: str, turns: int, *, memory: int, profile: bool) -> None:
    upgrade(url)
    database = Database(url)
    inbox = Inbox(database, Crypto.from_keys(keys()), load_flows())
    with collector_tuned():  # as `lapor serve` runs
        measure(backend, database, inbox, turns, memory=memory, profile=profile)
    database.dispose()


def measure(
    backend: str, database: Database, inbox: Inbox, turns: int, *, memory: int, profile: bool
) -> None:
    walkers = Walkers("w")
    asyncio.run(concurrent_turns(inbox, walkers, 2_000))  # warm up: caches, the first pages
    bare = bare_commits(database, 300)
    one_by_one = sequential_turns(inbox, walkers, 300)
    cpu = time.process_time()
    grouped, *parts = asyncio.run(concurrent_turns(inbox, walkers, turns, chunks=CHUNKS))
    cpu_per_turn = (time.process_time() - cpu) / turns
    print(f"[{backend}] bare durable commit        {bare:9.0f} /s")
    print(f"[{backend}] turns one commit each      {one_by_one:9.0f} /s")
    print(f"[{backend}] turns, {REPORTERS} reporters      {grouped:9.0f} /s  (target ≥ ", end="")
    print(f"{2000 if backend == 'sqlite' else 1000})")
    # This machine's pace drifts within a run: each fifth of it, to tell drift from the code.
    print(f"[{backend}] by fifths: median {statistics.median(parts):.0f} /s, ", end="")
    print(f"{min(parts):.0f}-{max(parts):.0f} ({', '.join(f'{part:.0f}' for part in parts)})")
    print(f"[{backend}] ratio to one commit each   {grouped / one_by_one:9.1f} x")
    print(f"[{backend}] ratio to a bare commit     {grouped / bare:9.2f}")
    # On a shared machine the wall clock says as much about the neighbours as about this code:
    # the CPU time of this process per turn (all its threads) says what one free core would do.
    print(f"[{backend}] CPU per turn (this process) {cpu_per_turn * 1e6:8.0f} µs", end="")
    print(f"  = {1 / cpu_per_turn:.0f} turns/s per core")
    if profile:
        # The turns run in the writer thread (SQLite) or the pool (PostgreSQL): the profiler is
        # switched on and off in there, by units of work of its own.
        profiler = cProfile.Profile()
        database.submit(lambda _session: profiler.enable()).result()
        rate = sequential_turns(inbox, walkers, 500)
        database.submit(lambda _session: profiler.disable()).result()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(PROFILE_SORT).print_stats(45)
        print(f"[{backend}] profile of 500 turns one at a time ({rate:.0f} /s under cProfile)")
        print(out.getvalue())
    if memory:
        memory_walk(inbox, backend, memory)


def memory_walk(inbox: Inbox, backend: str, first: int) -> None:
    """RSS after ``first`` turns and after ten times as many (10,000 and 100,000 by default)."""
    walkers = Walkers("m")
    asyncio.run(concurrent_turns(inbox, walkers, first))
    gc.collect()
    after_first = rss_mb()
    asyncio.run(concurrent_turns(inbox, walkers, 9 * first))
    gc.collect()
    after_last = rss_mb()
    print(f"[{backend}] RSS after {first:,} turns {after_first:12.1f} MB")
    print(f"[{backend}] RSS after {10 * first:,} turns {after_last:11.1f} MB")
    print(f"[{backend}] growth                     {after_last / after_first - 1:9.1%}  (≤ 10 %)")


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    backend = args[0] if args else "both"
    turns = int(args[1]) if len(args) > 1 else 20_000
    profile = "--profile" in sys.argv
    memory = 0
    for arg in sys.argv[1:]:
        if arg.startswith("--memory"):
            memory = int(arg.partition("=")[2] or 10_000)
    if backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as directory:
            url = f"sqlite:///{directory}/bench.db"
            bench("sqlite", url, turns, memory=memory, profile=profile)
    if backend in ("postgresql", "both"):
        server = start_postgres(durable=True, fsync=True)
        try:
            bench("postgresql", server.url, turns, memory=memory, profile=profile)
        finally:
            server.stop()


if __name__ == "__main__":
    main()
