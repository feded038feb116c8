"""What the benchmarks that drive a server over HTTP share: free ports, starting and stopping
server processes, waiting for them and reading the CPU time they used, running the wrk load
generator and reading its figures, and counting rows in the server's SQLite database afterwards."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

WRK = shutil.which("wrk") or "/usr/bin/wrk"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scratch(prefix: str) -> Path:
    """A directory of the run's files (databases, scripts, state), removed when the run ends: a
    webhook run leaves ~65 MB, and a day of benchmarking filled /tmp otherwise."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def wait_ready(base: str, path: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not come up")


def start(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(20)


def cpu_seconds(pid: int) -> float:
    """CPU time (user and system, every thread) that process ``pid`` has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def require_wrk() -> None:
    if not Path(WRK).exists():
        raise SystemExit("the load generator is wrk (Debian: apt-get install wrk)")


def wrk(
    base: str,
    seconds: float,
    connections: int,
    script: Path,
    arguments: list[str],
    *,
    threads: int = 2,
) -> dict[str, float]:
    """Run wrk with the Lua ``script`` (given ``arguments`` after ``--``); every response must be
    a 2xx. Returns requests/s, the number of requests, p50 and p99 in ms."""
    output = subprocess.run(
        [
            WRK,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{round(seconds)}s",
            "--latency",
            "--timeout",
            "30s",
            "-s",
            str(script),
            base,
            "--",
            *arguments,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in output or "Socket errors" in output:
        raise SystemExit(f"some requests failed:\n{output}")
    figures = {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", output)[0]),
        "count": float(_find(r"(\d+) requests in", output)[0]),
    }
    for label, key in (("50%", "p50_ms"), ("99%", "p99_ms")):
        value, unit = _find(rf"{label}\s+([\d.]+)(us|ms|s)\b", output)
        figures[key] = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    return figures


def _find(pattern: str, output: str) -> tuple[str, ...]:
    found = re.search(pattern, output)
    if found is None:
        raise SystemExit(f"wrk printed no {pattern!r}:\n{output}")
    return found.groups()


def table_counts(database: Path, sql: str) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute(sql).fetchall()
    return {str(key): int(count) for key, count in rows}


def turns(database: Path) -> int:
    """Deliveries the server took (its ``inbound`` table), 0 before the database exists."""
    if not database.exists():
        return 0
    return table_counts(database, "SELECT 'done', count(*) FROM inbound").get("done", 0)


def profile(pid: int, seconds: float, path: str | None) -> subprocess.Popen[bytes] | None:
    """``--profile=PATH``: py-spy samples the server during the measured run (raw stacks)."""
    if path is None:
        return None
    spy = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid)]
    # Only the thread holding the GIL is sampled: where the process's Python time goes.
    options = ["--duration", str(int(seconds)), "--rate", "200", "--threads", "--gil"]
    options += ["--nonblocking"]  # without it, py-spy stops the server for every sample
    options += ["--format", "raw"]
    return subprocess.Popen([*spy, *options, "--output", path], stdout=subprocess.DEVNULL)
