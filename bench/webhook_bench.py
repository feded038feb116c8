"""Signed WhatsApp turns against a running ``lapor serve`` (one worker, SQLite), compared with a
bare FastAPI endpoint on the same uvicorn, driven by the same load generator in the same run.

Run: ``make bench`` (or ``.venv/bin/python bench/webhook_bench.py [seconds] [connections]
[--profile=PATH]``; with ``--profile`` py-spy, installed into the venv by hand, samples the
server during the measured run and writes its raw stacks to PATH).
The load generator is wrk (C, ``apt-get install wrk``), so that it takes little of the CPU the
servers need. It replays pre-signed deliveries, each a new message (a new wamid) from one of 2,000
reporters walking through the conversation, so every request the server takes is a real turn
(checked against the inbound table); every response must be a 200. The replies go through the
outbox to a fake Graph API in its own process. Reported: requests per second counted in completed
turns, latency percentiles, and the ratio to the bare endpoint (target ≥ 0.5, p99 ≤ 100 ms at 64
connections).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    cpu_seconds,
    free_port,
    profile,
    require_wrk,
    scratch,
    start,
    stop,
    table_counts,
    turns,
    wait_ready,
    wrk,
)

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
REPORTERS = 2000
THREADS = 2

# wrk's threads each take their own slice of the pre-signed requests, one after another; every
# request is a new delivery (a new wamid), so each one the server takes is a real turn.
WRK_SCRIPT = """
local requests = {}
local next_one = 1
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  local threads, total = tonumber(args[2]), 0
  for line in io.lines(args[1]) do
    total = total + 1
    if total % threads == id - 1 then
      local signature, body = line:match("^([^\t]+)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/webhooks/whatsapp", {
        ["Content-Type"] = "application/json",
        ["X-Hub-Signature-256"] = signature,
      }, body)
    end
  end
end

function request()
  local chosen = requests[next_one]
  next_one = next_one % #requests + 1
  return chosen
end
"""


def write_requests(path: Path, count: int, run: str) -> None:
    """``count`` signed deliveries: reporters take turns, each walking through ``SCRIPT``."""
    with path.open("w") as out:
        for number in range(count):
            reporter, step = number % REPORTERS, number // REPORTERS
            wa_id = f"62899{run}{reporter:05d}"
            raw, headers = signed(wa_id, step, SCRIPT[step % len(SCRIPT)])
            out.write(f"{headers['X-Hub-Signature-256']}\t{raw.decode()}\n")


def replay(
    base: str, seconds: float, connections: int, requests: Path, script: Path
) -> dict[str, float]:
    """wrk's threads replaying the deliveries in ``requests`` (``WRK_SCRIPT``)."""
    return wrk(base, seconds, connections, script, [str(requests), str(THREADS)], threads=THREADS)


def arguments() -> tuple[float, int, str | None]:
    """Seconds, connections and the ``--profile`` path."""
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    profile_to = next(
        (arg.partition("=")[2] for arg in sys.argv[1:] if arg.startswith("--profile=")), None
    )
    return (float(args[0]) if args else 10), (int(args[1]) if len(args) > 1 else 64), profile_to


def main() -> None:
    require_wrk()
    seconds, connections, profile_to = arguments()
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "--log-level", "warning", "--port"]
    workdir = scratch("lapor-bench-")
    (workdir / "bare_app.py").write_text(BARE_APP)
    (workdir / "graph_app.py").write_text(GRAPH_APP)
    script = workdir / "deliveries.lua"
    script.write_text(WRK_SCRIPT)
    warm, measured = workdir / "warm.tsv", workdir / "measured.tsv"
    write_requests(warm, 5_000, "9")
    write_requests(measured, 100_000, "0")
    # The fake Graph API runs in its own process, so it takes nothing from the load generator.
    graph_port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    graph = start([*uvicorn, str(graph_port), "graph_app:app"], workdir, env)
    database = workdir / "bench.db"
    env.update(
        {
            "LAPOR_DATABASE_URL": f"sqlite:///{database}",
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
                replay(base, 3, connections, warm, script)
                before = turns(database)
                spy = profile(process.pid, seconds, profile_to) if name == "lapor serve" else None
                cpu = _cpu(process.pid, graph.pid)
                results[name] = replay(base, seconds, connections, measured, script)
                if spy is not None:
                    spy.wait(60)
                if name == "lapor serve":
                    done = turns(database) - before
                    if done < results[name]["count"]:
                        raise SystemExit(f"{done} turns for {results[name]['count']} requests")
                    _drain(database)
                used = _cpu(process.pid, graph.pid)
                results[name].update(
                    {key: (used[key] - cpu[key]) / results[name]["count"] for key in cpu}
                )
            finally:
                stop(process)
    finally:
        stop(graph)
    report(results, connections, database)


def report(results: dict[str, dict[str, float]], connections: int, database: Path) -> None:
    bare, ours = results["bare FastAPI endpoint"], results["lapor serve"]
    for name, figures in results.items():
        print(
            f"{name:24} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']:6.1f} ms  "
            f"p99 {figures['p99_ms']:6.1f} ms  ({int(figures['count'])} requests)"
        )
    print(f"ratio (turns/s ÷ bare req/s): {ours['rps'] / bare['rps']:.2f}  (target ≥ 0.5)")
    print(f"p99 of turns at {connections} connections: {ours['p99_ms']:.1f} ms  (target ≤ 100)")
    outbox = table_counts(database, "SELECT status, count(*) FROM outbox GROUP BY status")
    print(f"outbox once drained: {outbox}")
    _bound(bare, ours)


def _cpu(server: int, graph: int) -> dict[str, float]:
    """CPU seconds used so far by the server, the fake Graph API and wrk (a child reaped)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "server_cpu": cpu_seconds(server),
        "graph_cpu": cpu_seconds(graph),
        "wrk_cpu": children.ru_utime + children.ru_stime,
    }


def _drain(database: Path, seconds: float = 120) -> None:
    """Wait until the sender has sent every reply of the run (its CPU then counts them all)."""
    deadline = time.monotonic() + seconds
    sql = "SELECT 'left', count(*) FROM outbox WHERE status = 'pending'"
    while table_counts(database, sql).get("left", 0) and time.monotonic() < deadline:
        time.sleep(0.5)


def _bound(bare: dict[str, float], ours: dict[str, float]) -> None:
    """The CPU a turn takes on this machine, replies sent included, and what that allows with
    every core busy: the load generator, the fake Graph API and the server share them."""
    cores = os.cpu_count() or 1
    for name, figures in (("bare request", bare), ("turn", ours)):
        parts = "  ".join(
            f"{key.removesuffix('_cpu')} {figures[key] * 1e6:5.0f} µs"
            for key in ("server_cpu", "wrk_cpu", "graph_cpu")
        )
        print(f"CPU a {name:13} {parts}")
    machine = ours["server_cpu"] + ours["wrk_cpu"] + ours["graph_cpu"]
    most = cores / machine
    print(
        f"with all {cores} cores busy: at most {most:.0f} turns/s, "
        f"{most / bare['rps']:.2f} of the bare endpoint"
    )


if __name__ == "__main__":
    main()
