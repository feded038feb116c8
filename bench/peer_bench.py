"""Telegram button taps against ``lapor serve`` in webhook mode (one worker, SQLite) and against a
plain python-telegram-bot ``ConversationHandler`` bot in webhook mode (``bench/peer_bot.py``, state
in memory), driven by the same wrk script with the same updates, in the same run.

Run: ``.venv/bin/python bench/peer_bench.py [seconds] [connections] [--profile=PATH]`` (default
30 s, 64; ``--profile``: py-spy's raw stacks of ``lapor serve`` during its run, as in
``webhook_bench.py``). Three
servers one after the other, each after 3 s of warm-up on other chats: the peer as PTB builds it
(256 Bot API connections), the peer with 8 (faster: see ``peer_bot.py``), then lapor. Each wrk
connection owns its chats and walks each through the report flow with button taps
(``callback_query`` updates, ``WALK``: 19 taps from ``welcome:start`` to ``review:submit``), one
chat after another, sending a chat's next tap only after the 200 of its previous one: one wrk
thread per connection, so that the Lua script's state is the connection's. Every server gets the
same update bodies (the same chats, the same update ids) and the same secret header. At about 100
taps a second, 64 chats at a time take 12 s for one walk each: the default 30 s keeps whole
walks, the report's submission included, in the measured mix.

The peer answers each tap (``answerCallbackQuery``) and edits its message to the next question
(``editMessageText``) before its 200; ``lapor serve`` records the turn durably before its 200
and answers the tap after it, its replies going through the outbox (Telegram's pacing lifted, so
that the sender works during the run as fast as it can). All talk to one fake Bot API
(``tests/fake_telegram.py``) in its own process. Reported: updates/s counted in completed 200s,
p50/p99, the server process's CPU time per update handled (steadier than rates on a shared
machine), the ratios lapor ÷ peer (target: 1.5 times the peer's updates/s, goal 3), and checks
that the work was done: the fake's count of each peer's ``editMessageText`` and
``answerCallbackQuery`` calls and the rows in lapor's ``inbound`` table, each at least the 200s
counted.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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

from tests.fake_telegram import TOKEN, callback_update
from tests.support import REPORT_PATH

SECRET = "bench-telegram-secret"
PEER = "peer_bot:create_app"  # bench/peer_bot.py
SMALL_POOL = 8  # the second peer's Bot API connections (PTB's default: 256)
# The taps of one chat, in order: every one a step of the flow (CONTRACT §4), the tests' path to
# the region, the partner's branch through ``lives_with``, two taps on ``needs``, and the report
# submitted at the end.
WALK = (
    *REPORT_PATH,
    "province:skip",
    "place:home",
    "perpetrator:partner",
    "lives_with:no",
    "story:skip",
    "evidence:skip",
    "needs:safety",
    "needs:done",
    "contact:anonymous",
    "review:submit",
)
# Chats' user ids start here; each run of wrk (warm-up, measured) takes its own block, and an
# update's id is its chat's user id times 32 plus its tap's number, so no id comes twice.
FIRST_USER = 6_000_000_000
RUN = 1_000_000  # the measured run's chats come after the warm-up's
BOT_API_APP = """
from collections import Counter

from tests.fake_telegram import FakeBotApi

fake = FakeBotApi()
app = fake.app()


@app.get("/calls")
def calls() -> dict[str, int]:
    with fake.lock:
        return dict(Counter(method for method, _ in fake.calls))
"""
# wrk runs one connection a thread (``-t`` = ``-c``), so that a thread's state is its
# connection's: ``request()`` is called for the next request only after the previous response.
# Thread k walks chats k, k + threads, k + 2 threads, … of the run's block. The tap moves on in
# ``response()``, not in ``request()``: wrk calls the first thread's ``request()`` once more at
# start-up, to look at the request, and does not send that one.
WRK_SCRIPT = """
local counter = 1

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

local template, walk, secret = nil, {}, nil
local threads, first, chat, tap = 1, 0, 0, 1

function init(args)
  threads, first = tonumber(args[1]), tonumber(args[2])
  template = io.open(args[3]):read("*a")
  for line in io.lines(args[4]) do walk[#walk + 1] = line end
  secret = args[5]
  chat = id - 1
end

function request()
  local number = first + chat
  local body = template:gsub("@(%u+)@", {
    UPDATE = string.format("%d", number * 32 + tap),
    USER = string.format("%d", number),
    MESSAGE = string.format("%d", 1000 + tap),
    DATA = walk[tap],
  })
  return wrk.format("POST", "/webhooks/telegram", {
    ["Content-Type"] = "application/json",
    ["X-Telegram-Bot-Api-Secret-Token"] = secret,
  }, body)
end

function response(status, headers, body)
  tap = tap + 1
  if tap > #walk then
    tap, chat = 1, chat + threads
  end
end
"""


def template() -> str:
    """A tap's update with ``@UPDATE@``, ``@USER@``, ``@MESSAGE@`` and ``@DATA@`` for the script
    to fill in."""
    marks = {"777000001": "@UPDATE@", "888000002": "@USER@", "999000003": "@MESSAGE@"}
    body = json.dumps(callback_update(777000001, 888000002, "@DATA@", message_id=999000003))
    for number, mark in marks.items():
        body = body.replace(number, mark)
    return body


def taps(
    base: str, seconds: float, connections: int, workdir: Path, first_user: int
) -> dict[str, float]:
    """wrk walking chats ``first_user``, ``first_user + 1``, … through ``WALK``."""
    arguments = [str(connections), str(first_user), str(workdir / "update.json")]
    arguments += [str(workdir / "walk.txt"), SECRET]
    return wrk(base, seconds, connections, workdir / "taps.lua", arguments, threads=connections)


def calls(bot_api: str) -> dict[str, int]:
    """How many times the fake Bot API was called, by method (lower case)."""
    return {
        str(method): int(count)
        for method, count in httpx.get(f"{bot_api}/calls", timeout=10).json().items()
    }


@dataclass
class Setup:
    seconds: float
    connections: int
    workdir: Path
    env: dict[str, str]
    bot_api: str
    root: Path = Path(__file__).resolve().parent.parent

    @property
    def database(self) -> Path:
        return self.workdir / "bench.db"


def measure(
    setup: Setup, argv: list[str], env: dict[str, str], profile_to: str | None = None
) -> tuple[dict[str, float], dict[str, int]]:
    """Start the server ``argv`` (``{port}`` in it; ``env`` added to the setup's), warm it up with
    other chats, measure, stop it. Returns wrk's figures, with ``cpu_s`` the server process's CPU
    seconds, and what was done meanwhile: the Bot API's calls by method and ``inbound`` (lapor's
    delivery rows), counted 2 s after the load stopped (the taps in flight then, lapor's
    answers)."""
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in argv]
    process = start(argv, setup.root, {**setup.env, **env})
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, "/healthz", 300)
        taps(base, 3, setup.connections, setup.workdir, FIRST_USER)
        time.sleep(2)
        before, inbound = calls(setup.bot_api), turns(setup.database)
        cpu = cpu_seconds(process.pid)
        spy = profile(process.pid, setup.seconds, profile_to)
        figures = taps(base, setup.seconds, setup.connections, setup.workdir, FIRST_USER + RUN)
        if spy is not None:
            spy.wait(60)
        time.sleep(2)
        figures["cpu_s"] = cpu_seconds(process.pid) - cpu
        after = calls(setup.bot_api)
    finally:
        stop(process)
    done = {method: after[method] - before.get(method, 0) for method in after}
    done["inbound"] = turns(setup.database) - inbound
    return figures, done


def main() -> None:
    require_wrk()
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    seconds = float(args[0]) if args else 30
    connections = int(args[1]) if len(args) > 1 else 64
    # --profile=PATH: py-spy's raw stacks of lapor serve during its measured run.
    profile_to = next((a.partition("=")[2] for a in sys.argv if a.startswith("--profile=")), None)
    python = sys.executable
    uvicorn = [python, "-m", "uvicorn", "--log-level", "warning", "--no-access-log", "--port"]
    workdir = scratch("lapor-peer-")
    (workdir / "bot_api_app.py").write_text(BOT_API_APP)
    (workdir / "taps.lua").write_text(WRK_SCRIPT)
    (workdir / "update.json").write_text(template())
    (workdir / "walk.txt").write_text("\n".join(WALK) + "\n")
    bot_api_port = free_port()
    bot_api = f"http://127.0.0.1:{bot_api_port}"
    setup = Setup(seconds, connections, workdir, {**os.environ}, bot_api)
    setup.env["PYTHONPATH"] = str(setup.root)
    fake = start([*uvicorn, str(bot_api_port), "bot_api_app:app"], workdir, setup.env)
    setup.env.update(
        {
            "PEER_TOKEN": TOKEN,
            "PEER_API_URL": f"{bot_api}/bot",
            "PEER_SECRET": SECRET,
            "LAPOR_DATABASE_URL": f"sqlite:///{setup.database}",
            "LAPOR_STATE_DIR": str(workdir / "state"),
            "LAPOR_LOG_LEVEL": "WARNING",
            "LAPOR_TELEGRAM_TOKEN": TOKEN,
            "LAPOR_TELEGRAM_MODE": "webhook",
            "LAPOR_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "LAPOR_TELEGRAM_API_URL": f"{bot_api}/bot",
            "LAPOR_TELEGRAM_FILE_URL": f"{bot_api}/file/bot",
            # The sender sends as fast as it can, as the peer does, instead of pacing the chats.
            "LAPOR_TELEGRAM_RATE": "100000",
            "LAPOR_TELEGRAM_CHAT_SECONDS": "0",
            # Every tap is a turn, and every chat submits, however fast the load comes.
            "LAPOR_BURST_MESSAGES": "1000000",
            "LAPOR_REPORTS_PER_HOUR": "1000000",
        }
    )
    peer = [*uvicorn, "{port}", "--app-dir", str(setup.root / "bench"), "--factory", PEER]
    servers = {
        "PTB peer": (peer, {}),
        f"PTB peer, pool {SMALL_POOL}": (peer, {"PEER_POOL": str(SMALL_POOL)}),
        "lapor serve": ([str(Path(python).parent / "lapor"), "serve", "--port", "{port}"], {}),
    }
    try:
        wait_ready(bot_api, "/calls")
        results = {
            name: measure(setup, argv, env, profile_to if name == "lapor serve" else None)
            for name, (argv, env) in servers.items()
        }
    finally:
        stop(fake)
    report(results, setup.database)


def report(results: dict[str, tuple[dict[str, float], dict[str, int]]], database: Path) -> None:
    """Print the figures; stop with an error if a server did not do the work it answered."""
    ours = results["lapor serve"][0]
    failed: list[str] = []
    for name, (figures, done) in results.items():
        if name == "lapor serve":
            handled = done["inbound"]
            check = (
                f"{handled} inbound rows, {done.get('answercallbackquery', 0)} "
                f"answerCallbackQuery, {done.get('sendmessage', 0)} sendMessage"
            )
        else:
            handled = min(done.get("editmessagetext", 0), done.get("answercallbackquery", 0))
            check = (
                f"{done.get('editmessagetext', 0)} editMessageText, "
                f"{done.get('answercallbackquery', 0)} answerCallbackQuery"
            )
        if handled < figures["count"]:
            failed.append(f"{name} answered {int(figures['count'])} updates but: {check}")
        # The process's CPU time while measured and 2 s after, over the updates it handled
        # meanwhile (the taps still in flight at the end count in).
        figures["cpu_ms"] = figures["cpu_s"] * 1000 / max(1, handled)
        print(
            f"{name:16} {figures['rps']:7.1f} updates/s  p50 {figures['p50_ms']:7.1f} ms  "
            f"p99 {figures['p99_ms']:7.1f} ms  CPU {figures['cpu_ms']:5.1f} ms an update  "
            f"({int(figures['count'])} updates; {check})"
        )
    for name, (figures, _) in results.items():
        if name != "lapor serve":
            ratio = ours["rps"] / figures["rps"]
            print(
                f"lapor ÷ {name}: {ratio:.2f} in updates/s (target ≥ 1.5, goal 3: "
                f"{'met' if ratio >= 1.5 else 'NOT met'}), "
                f"{figures['cpu_ms'] / ours['cpu_ms']:.2f} in CPU an update"
            )
    reports = table_counts(database, "SELECT 'reports', count(*) FROM report")
    outbox = table_counts(database, "SELECT status, count(*) FROM outbox GROUP BY status")
    print(
        f"lapor after the run: {reports['reports']} reports submitted, outbox {outbox} "
        "(its CPU an update leaves out the replies still to send)"
    )
    if failed:
        raise SystemExit("\n".join(failed))


if __name__ == "__main__":
    main()
