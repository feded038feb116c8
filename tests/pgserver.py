"""A throwaway PostgreSQL server for the test suite, started from the machine's own binaries.

Unix socket only (no port to clash with), fsync off (the data is thrown away), and, because
PostgreSQL refuses to run as root, run as the ``postgres`` system user when we are root.
``python -m tests.pgserver`` starts one by hand and prints its URL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

HINT = "install it (Debian: apt-get install postgresql) or set LAPOR_TEST_DATABASE_URL"


class PostgresUnavailable(Exception):
    """No PostgreSQL server could be started here; the message says what is missing."""


def find_bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run(  # noqa: S603
            [pg_config, "--bindir"], capture_output=True, text=True, check=False
        )
        candidate = Path(found.stdout.strip())
        if found.returncode == 0 and (candidate / "initdb").exists():
            return candidate
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if versions:
        return Path(versions[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


@dataclass
class PostgresServer:
    url: str
    root: Path
    bindir: Path
    user: str | None
    # Commits that survive the server's crash (``halt``); off for the suite's shared server.
    durable: bool = False
    # Commits flushed to the disk too (the benchmarks); off for the tests.
    fsync: bool = False
    _stopped: bool = field(default=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def halt(self) -> None:
        """Stop at once, as a crash or an outage would, keeping the data (``resume`` restarts)."""
        _run(
            [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"],
            self.user,
        )

    def resume(self) -> None:
        _start(self)

    def stop(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            _run(
                [str(self.bindir / "pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "immediate"],
                self.user,
            )
        shutil.rmtree(self.root, ignore_errors=True)


def _run(command: list[str], user: str | None) -> subprocess.CompletedProcess[str]:
    if user is not None:
        command = ["runuser", "-u", user, "--", *command]
    return subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False, timeout=120, stdin=subprocess.DEVNULL
    )


def _unprivileged_user() -> str | None:
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise PostgresUnavailable(
            "running as root and there is no 'postgres' user to run PostgreSQL as; " + HINT
        ) from None
    if shutil.which("runuser") is None:
        raise PostgresUnavailable("running as root and `runuser` is missing (util-linux)")
    return "postgres"


def start_postgres(*, durable: bool = False, fsync: bool = False) -> PostgresServer:
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(f"PostgreSQL server binaries (initdb) not found; {HINT}")
    user = _unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="lapor-pg-"))
    server = PostgresServer(
        url="", root=root, bindir=bindir, user=user, durable=durable, fsync=fsync
    )
    socket_dir = root / "sock"
    socket_dir.mkdir()
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (root, socket_dir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        root.chmod(0o755)
    try:
        _initdb(server)
        _start(server)
        with psycopg.connect(
            host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE lapor_test")
    except BaseException:
        server.stop()
        raise
    server.url = f"postgresql+psycopg://postgres@/lapor_test?host={socket_dir}"
    return server


def _start(server: PostgresServer) -> None:
    log_file = server.root / "server.log"
    options = (
        f"-c listen_addresses='' -c unix_socket_directories='{server.root / 'sock'}' "
        f"-c fsync={'on' if server.fsync else 'off'} "
        f"-c full_page_writes={'on' if server.fsync else 'off'} -c max_connections=200 "
        # Without synchronous_commit a commit can return before its WAL is even written: fine
        # for data thrown away, not for a test that crashes the server and counts rows.
        f"-c synchronous_commit={'on' if server.durable else 'off'}"
    )
    started = _run(
        [
            str(server.bindir / "pg_ctl"),
            "start",
            "-w",
            "-t",
            "60",
            "-D",
            str(server.data_dir),
            "-l",
            str(log_file),
            "-o",
            options,
        ],
        server.user,
    )
    if started.returncode != 0:
        tail = log_file.read_text(errors="replace")[-800:] if log_file.exists() else ""
        raise PostgresUnavailable(f"PostgreSQL did not start: {started.stderr.strip()} {tail}")


def _initdb(server: PostgresServer) -> None:
    base = [str(server.bindir / "initdb"), "-D", str(server.data_dir), "-U", "postgres"]
    base += ["--auth=trust", "-E", "UTF8"]
    result = _run([*base, "--locale=C.UTF-8"], server.user)
    if result.returncode != 0:
        shutil.rmtree(server.data_dir, ignore_errors=True)
        result = _run([*base, "--no-locale"], server.user)
    if result.returncode != 0:
        raise PostgresUnavailable(f"initdb failed: {result.stderr.strip()[-800:]}")


if __name__ == "__main__":
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    running = start_postgres()
    print(running.url, flush=True)
    try:
        signal.sigwait(stop_signals)
    finally:
        running.stop()
