"""The throwaway PostgreSQL the suite runs on is real, unprivileged, and goes away."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from tests.pgserver import PostgresUnavailable, start_postgres


def test_throwaway_server_runs_unprivileged_and_stops() -> None:
    if os.environ.get("LAPOR_TEST_DATABASE_URL"):
        pytest.skip("an external PostgreSQL is configured; no throwaway server is started")
    try:
        server = start_postgres()
    except PostgresUnavailable as error:
        if os.environ.get("LAPOR_REQUIRE_POSTGRES") == "1":
            raise
        pytest.skip(str(error))
    try:
        engine = sa.create_engine(server.url)
        with engine.connect() as connection:
            assert connection.exec_driver_sql("SELECT current_user").scalar() == "postgres"
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            # Read while the connection is open: its server process ends with it.
            status = Path(f"/proc/{pid}/status").read_text()
        engine.dispose()
        uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
        assert int(uid_line.split()[1]) != 0
    finally:
        server.stop()
    socket_dir = sa.engine.make_url(server.url).query["host"]
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            host=str(socket_dir), user="postgres", dbname="lapor_test", connect_timeout=3
        )
    assert not server.root.exists()
