"""Claims under real concurrency: officers in threads against a real uvicorn server on loopback,
on SQLite and on PostgreSQL. Nobody may ever hold a report someone else also holds."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import httpx
import pytest
from fastapi import FastAPI
from sqlmodel import select

from storage.models import Officer, Report, ReportStatus
from tests.api.conftest import PASSWORD, Desk
from tests.fakes import serve


@pytest.fixture
def server(app: FastAPI) -> Iterator[str]:
    with serve(app) as base:
        yield base


def log_in(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=60)
    token = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert token.status_code == 200, token.text
    client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
    return client


def test_twenty_officers_claiming_through_a_queue_of_500_claim_each_report_once(
    desk: Desk, server: str
) -> None:
    agency = desk.agency("PPA-JATENG", regions=("33",))
    names = [f"petugas{n:02d}" for n in range(20)]
    for name in names:
        desk.officer(name, agency)
    created = {desk.report() for _ in range(500)}
    statuses: Counter[int] = Counter()
    lock = threading.Lock()

    def work(name: str) -> list[str]:
        won: list[str] = []
        rng = random.Random(name)
        with closing(log_in(server, name)) as client:
            while True:
                # Like an officer at the desk: look at the top of the queue, take one, come back.
                page = client.get("/api/v1/reports", params={"status": "new", "limit": 40})
                assert page.status_code == 200, page.text
                items = page.json()["items"]
                if not items:
                    return won
                rng.shuffle(items)
                for item in items:
                    claim = client.post(f"/api/v1/reports/{item['id']}/claim")
                    with lock:
                        statuses[claim.status_code] += 1
                    if claim.status_code == 200:
                        assert claim.json()["claimed_by"] == name
                        won.append(item["id"])
                        break

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        results = dict(zip(names, pool.map(work, names), strict=True))

    claimed = [report_id for won in results.values() for report_id in won]
    assert len(claimed) == len(set(claimed)) == 500
    assert set(claimed) == created
    assert set(statuses) <= {200, 409}
    assert statuses[200] == 500
    assert sum(1 for won in results.values() if won) > 1  # it really was a race
    with desk.database.unit() as session:
        holders = dict(session.exec(select(Officer.id, Officer.username)).all())
        rows = session.exec(select(Report)).all()
        assert all(row.status == ReportStatus.claimed for row in rows)
        by_database = {row.id: holders[row.claimed_by] for row in rows if row.claimed_by}
    assert by_database == {rid: name for name, won in results.items() for rid in won}


def test_ten_officers_on_one_report_get_one_200_and_nine_409(desk: Desk, server: str) -> None:
    agency = desk.agency("PPA-JATENG", regions=("33",))
    names = [f"petugas{n}" for n in range(10)]
    for name in names:
        desk.officer(name, agency)
    report_id = desk.report()
    clients = [log_in(server, name) for name in names]
    start = threading.Barrier(len(clients))

    def claim(client: httpx.Client) -> int:
        start.wait()
        return client.post(f"/api/v1/reports/{report_id}/claim").status_code

    try:
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            codes = Counter(pool.map(claim, clients))
    finally:
        for client in clients:
            client.close()
    assert codes == Counter({200: 1, 409: 9})
