"""The triage side at scale: 100,000 reports, then the queue through the API and the console.

Run: ``.venv/bin/python bench/triage_bench.py [reports] [--database-url URL | --postgres]``
(SQLite in a temporary directory, or the PostgreSQL at URL, or with ``--postgres`` a throwaway
PostgreSQL started like the tests' one; the database is migrated, then filled).
The reports spread over 20 agencies (1 % with no agency, waiting in the national agency's queue),
over a year, with the statuses and priorities a busy service would have. The app runs in this
process (``TestClient``: no network), and each query is asked ``REQUESTS`` times by an agency
officer, the national agency's officer and an admin: the first page of ``GET /api/v1/reports``,
with each filter, the next page by cursor, and the console's queue page. Reported: p50/p95/p99 in
ms per query of the server's own time, from the request's arrival to its last byte (target p99 ≤
50 ms), the client's p50/p99 beside it, and the plan the database chose for the queue's query
(``EXPLAIN``).
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient
from starlette.types import ASGIApp, Message, Receive, Scope, Send

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import scratch

from api.main import create_app
from api.settings import Settings
from storage import triage
from storage.agencies import create_agency
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Officer, Report, Role
from storage.officers import hash_password
from tests.pgserver import start_postgres

AGENCIES = 20
REQUESTS = 200  # each query, by default (``--requests``)
PASSWORD = "kata-sandi-bench-panjang"
STATUSES = [  # (status, share)
    ("new", 0.15),
    ("claimed", 0.05),
    ("in_progress", 0.10),
    ("referred", 0.05),
    ("resolved", 0.15),
    ("closed", 0.50),
]
PRIORITIES = [("critical", 0.03), ("high", 0.22), ("normal", 0.75)]
CSRF_INPUT = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def pick(chance: random.Random, shares: list[tuple[str, float]]) -> str:
    return chance.choices([value for value, _ in shares], [share for _, share in shares])[0]


def fill(database: Database, count: int) -> tuple[list[int], dict[str, int]]:
    """Agencies, officers and ``count`` reports; the agency ids and the officers' ids."""
    with database.unit() as session:
        agencies = [
            create_agency(f"A{n:02d}", f"Agency {n}", regions=[], national=n == 0, session=session)
            for n in range(AGENCIES)
        ]
        agency_ids = [agency.id for agency in agencies if agency.id is not None]
        hashed = hash_password(PASSWORD)
        officers = {
            "bench_officer": Officer(
                username="bench_officer",
                password_hash=hashed,
                agency_id=agency_ids[1],
                role=Role.officer,
            ),
            "bench_national": Officer(
                username="bench_national",
                password_hash=hashed,
                agency_id=agency_ids[0],
                role=Role.officer,
            ),
            "bench_admin": Officer(
                username="bench_admin",
                password_hash=hashed,
                agency_id=agency_ids[0],
                role=Role.admin,
            ),
        }
        session.add_all(officers.values())
        session.flush()
        officer_ids = {name: officer.id for name, officer in officers.items() if officer.id}
    chance = random.Random(13)  # noqa: S311 (synthetic data)
    now = datetime.now(UTC)
    rows = []
    for number in range(count):
        created = now - timedelta(seconds=chance.uniform(0, 365 * 24 * 3600))
        status = pick(chance, STATUSES)
        agency = None if chance.random() < 0.01 else chance.choice(agency_ids)
        claimed = status != "new" and agency == agency_ids[1] and chance.random() < 0.5
        rows.append(
            {
                "id": str(uuid.uuid4()),
                "reference": f"B{number:09d}",
                "receipt_hash": secrets.token_hex(32),
                "status": status,
                "priority": pick(chance, PRIORITIES),
                "agency_id": agency,
                "locale": "id",
                "danger": False,
                "category": chance.choice(["sexual", "physical", "psychological", "neglect"]),
                "province": chance.choice(["11", "18", "31", "33", "35", "73"]),
                "victim_age": chance.choice(["child", "adult"]),
                "needs": ["counselling"],
                "created_at": created,
                "updated_at": created,
                "claimed_by": officer_ids["bench_officer"] if claimed else None,
            }
        )
    table = Report.__table__  # type: ignore[attr-defined]
    for start in range(0, len(rows), 5000):
        with database.engine.begin() as connection:
            connection.execute(sa.insert(table), rows[start : start + 5000])
    with database.engine.begin() as connection:
        if database.backend == "postgresql":
            connection.exec_driver_sql("ANALYZE report")
        else:
            connection.exec_driver_sql("ANALYZE")
    return agency_ids, officer_ids


def explain(database: Database, scope: triage.Scope) -> str:
    """The plan the database chose for the queue's first page (default filters)."""
    statement = triage.queue_statement(
        scope, status=None, priority=None, mine=False, after=None, limit=51
    )
    literal = str(statement.compile(database.engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if database.backend == "sqlite" else "EXPLAIN "
    with database.engine.connect() as connection:
        plan = connection.exec_driver_sql(prefix + literal).fetchall()
    return "\n".join("  " + " ".join(str(part) for part in row) for row in plan)


class Served:
    """The app as a server runs it, each request timed from its arrival to its last byte.

    ``TestClient`` offers the ``http.response.debug`` extension, and Starlette answers it by
    handing every page's template context (a hundred rows) to the client, which keeps it in
    reference cycles for the garbage collector to find: work a server (uvicorn offers no such
    extension) never does, so the extension is taken out here.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.times: list[float] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extensions = dict(scope.get("extensions") or {})
        extensions.pop("http.response.debug", None)
        started = time.perf_counter()

        async def timed_send(message: Message) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.append((time.perf_counter() - started) * 1000)
            await send(message)

        await self.app({**scope, "extensions": extensions}, receive, timed_send)


def timed(
    client: TestClient, served: Served, path: str, headers: dict[str, str], requests: int
) -> tuple[list[float], list[float]]:
    """The server's times and the client's."""
    first, times = len(served.times), []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path, headers=headers)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"{path}: {response.status_code} {response.text[:200]}")
    return served.times[first:], times


def report(label: str, server: list[float], client: list[float]) -> None:
    print(
        f"{label:60} p50 {statistics.median(server):6.1f}  p95 {percentile(server, 0.95):6.1f}  "
        f"p99 {percentile(server, 0.99):6.1f} ms  (client p50 {statistics.median(client):6.1f}  "
        f"p99 {percentile(client, 0.99):6.1f})",
        flush=True,
    )


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("reports", type=int, nargs="?", default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL")
    arguments = parser.parse_args()
    if arguments.postgres:
        server = start_postgres(durable=True)
        try:
            run(arguments, server.url)
        finally:
            server.stop()
    else:
        run(arguments, arguments.database_url)


def run(arguments: argparse.Namespace, url: str | None) -> None:
    workdir = scratch("lapor-triage-")
    url = url or f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    database = Database(url)
    started = time.monotonic()
    agency_ids, officer_ids = fill(database, arguments.reports)
    print(
        f"{arguments.reports} reports in {time.monotonic() - started:.1f} s ({database.backend})",
        flush=True,
    )
    for name, scope in (
        (
            "an agency officer",
            triage.Scope(officer_ids["bench_officer"], agency_ids[1], Role.officer),
        ),
        (
            "the national agency",
            triage.Scope(officer_ids["bench_national"], agency_ids[0], Role.officer, national=True),
        ),
        ("an admin", triage.Scope(officer_ids["bench_admin"], agency_ids[0], Role.admin)),
    ):
        print(f"plan of the queue's first page for {name}:")
        print(explain(database, scope))
    # The sweeper (escalations) and the purge stay out of the measurement: a day away.
    settings = Settings(
        database_url=url,
        state_dir=workdir / "state",
        log_level="WARNING",
        sweep_seconds=86400,
        purge_hours=24,
    )
    served = Served(create_app(settings, database=database))
    with TestClient(served) as client:
        results: dict[str, list[float]] = {}
        for officer in ("bench_officer", "bench_national", "bench_admin"):
            answer = client.post(
                "/api/v1/auth/token", data={"username": officer, "password": PASSWORD}
            )
            headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}
            first = client.get("/api/v1/reports", headers=headers).json()
            queries = {
                "": "/api/v1/reports",
                "status=new": "/api/v1/reports?status=new",
                "priority=critical": "/api/v1/reports?priority=critical",
                "mine": "/api/v1/reports?mine=true",
            }
            if first["next_cursor"]:  # not with a few reports (``reports`` given small)
                queries["page 2"] = f"/api/v1/reports?cursor={first['next_cursor']}"
            for label, path in queries.items():
                name = f"{officer:15} GET /api/v1/reports {label}"
                results[name], client_times = timed(
                    client, served, path, headers, arguments.requests
                )
                report(name, results[name], client_times)
        browser = TestClient(served)
        login = browser.get("/console/login").text
        found = CSRF_INPUT.search(login)
        assert found is not None
        browser.post(
            "/console/login",
            data={"username": "bench_officer", "password": PASSWORD, "csrf": found.group(1)},
        )
        name = f"{'bench_officer':15} console /console/queue"
        results[name], client_times = timed(
            browser, served, "/console/queue", {}, arguments.requests
        )
        report(name, results[name], client_times)
    worst = max(percentile(times, 0.99) for times in results.values())
    print(f"worst p99: {worst:.1f} ms (target ≤ 50): {'met' if worst <= 50 else 'NOT met'}")
    database.dispose()


if __name__ == "__main__":
    main()
