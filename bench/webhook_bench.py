"""Signed WhatsApp turns against a running ``lapor serve`` (one worker, SQLite), compared with a
bare FastAPI endpoint on the same uvicorn, driven by the same load generator in the same run.

Run: ``make bench`` (or ``.venv/bin/python bench/webhook_bench.py [seconds] [connections]``).
Each of the connections is a different reporter (a different wa_id) sending text messages, so the
turns are real conversation steps (welcome, then answers); every response must be a 200. The
replies go through the outbox to a fake Graph API in this process. Reported: requests per second
counted in completed turns, latency percentiles, and the ratio to the bare endpoint (target
≥ 0.5, p99 ≤ 100 ms at 64 connections).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

APP_SECRET = "bench-app-secret"
GRAPH_APP = """
from tests.fakes import FakeGraph

app = FakeGraph().app()
"""
BARE_APP = """
from fastapi import FastAPI, Request

app = FastAPI()


@app.post("/webhooks/whatsapp")
async def webhook(request: Request) -> dict[str, str]:
    await request.body()
    return {"status": "ok"}
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}{path}", timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{base} did not come up")


def signed(wa_id: str, number: int, text: str) -> tuple[bytes, dict[str, str]]:
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "200000000000002",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"phone_number_id": "100000000000001"},
                            "contacts": [{"profile": {"name": "Bench"}, "wa_id": wa_id}],
                            "messages": [
                                {
                                    "from": wa_id,
                                    "id": f"wamid.{wa_id}.{number}",
                                    "timestamp": "1767225600",
                                    "type": "text",
                                    "text": {"body": text},
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    raw = json.dumps(payload).encode()
    digest = hmac.new(APP_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


SCRIPT = ["halo", "mulai", "tidak", "setuju", "saya sendiri", "dewasa", "perempuan", "fisik", "ya"]


async def load(base: str, seconds: float, connections: int, run: str) -> tuple[int, list[float]]:
    latencies: list[float] = []
    stop = time.monotonic() + seconds

    async def reporter(number: int) -> None:
        wa_id = f"62899{run}{number:05d}"
        sent = 0
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            while time.monotonic() < stop:
                raw, headers = signed(wa_id, sent, SCRIPT[sent % len(SCRIPT)])
                started = time.perf_counter()
                response = await client.post("/webhooks/whatsapp", content=raw, headers=headers)
                if response.status_code != 200:
                    raise SystemExit(f"HTTP {response.status_code}: {response.text[:200]}")
                latencies.append(time.perf_counter() - started)
                sent += 1

    await asyncio.gather(*(reporter(n) for n in range(connections)))
    return len(latencies), latencies


def measure(base: str, seconds: float, connections: int, run: str) -> dict[str, float]:
    asyncio.run(load(base, 2, connections, run + "w"))  # warm up
    started = time.monotonic()
    count, latencies = asyncio.run(load(base, seconds, connections, run))
    elapsed = time.monotonic() - started
    ordered = sorted(latencies)
    return {
        "rps": count / elapsed,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[int(len(ordered) * 0.99) - 1] * 1000,
        "count": count,
    }


def start(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    process.wait(20)


def outbox_counts(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall()
    return {str(status): int(count) for status, count in rows}


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    connections = int(sys.argv[2]) if len(sys.argv) > 2 else 64
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "--log-level", "warning", "--port"]
    workdir = Path(tempfile.mkdtemp(prefix="lapor-bench-"))
    (workdir / "bare_app.py").write_text(BARE_APP)
    (workdir / "graph_app.py").write_text(GRAPH_APP)
    # The fake Graph API runs in its own process, so it takes nothing from the load generator.
    graph_port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    graph = start([*uvicorn, str(graph_port), "graph_app:app"], workdir, env)
    env.update(
        {
            "LAPOR_DATABASE_URL": f"sqlite:///{workdir}/bench.db",
            "LAPOR_STATE_DIR": str(workdir / "state"),
            "LAPOR_LOG_LEVEL": "WARNING",
            "LAPOR_WHATSAPP_APP_SECRET": APP_SECRET,
            "LAPOR_WHATSAPP_VERIFY_TOKEN": "bench",
            "LAPOR_WHATSAPP_ACCESS_TOKEN": "graph-token",
            "LAPOR_WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
            "LAPOR_WHATSAPP_API_URL": f"http://127.0.0.1:{graph_port}/v23.0",
            "LAPOR_WHATSAPP_RATE": "100000",
            # Every turn is read (and pays for the burst count) however fast the load comes.
            "LAPOR_BURST_MESSAGES": "1000000",
        }
    )
    results: dict[str, dict[str, float]] = {}
    try:
        for name, argv, cwd, ready in (
            ("bare FastAPI endpoint", [*uvicorn, "{port}", "bare_app:app"], workdir, "/docs"),
            (
                "lapor serve",
                [str(Path(python).parent / "lapor"), "serve", "--port", "{port}"],
                Path.cwd(),
                "/healthz",
            ),
        ):
            port = free_port()
            process = start([part.replace("{port}", str(port)) for part in argv], cwd, env)
            try:
                base = f"http://127.0.0.1:{port}"
                wait_ready(base, ready)
                results[name] = measure(base, seconds, connections, str(len(results)))
                time.sleep(2)  # let the sender finish the replies
            finally:
                stop(process)
    finally:
        stop(graph)
    bare, ours = results["bare FastAPI endpoint"], results["lapor serve"]
    for name, figures in results.items():
        print(
            f"{name:24} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p99 {figures['p99_ms']:6.1f} ms  ({int(figures['count'])} requests)"
        )
    print(f"ratio (turns/s ÷ bare req/s): {ours['rps'] / bare['rps']:.2f}  (target ≥ 0.5)")
    print(f"p99 of turns at {connections} connections: {ours['p99_ms']:.1f} ms  (target ≤ 100)")
    print(f"outbox after the run: {outbox_counts(workdir / 'bench.db')}")


if __name__ == "__main__":
    main()
