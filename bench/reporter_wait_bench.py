"""The reporter's wait, in a closed loop: simulated reporters answer a moment after the bot's
previous reply reaches the (fake) platform, and we time each reply, from the webhook's 200 to the
reply's arrival at the fake, on WhatsApp and on Telegram (webhook mode).

Run: ``.venv/bin/python bench/reporter_wait_bench.py [seconds]`` (``--database-url URL`` for
PostgreSQL; SQLite in a temporary directory otherwise). One ``lapor serve`` process; the fake Graph
and Bot API servers and the reporters share one asyncio loop in this process (no thread per
reporter, so the load generator takes little CPU). Levels, as in issue 13:

- WhatsApp: 20 and 60 reporters, each answering 0.25 to 0.75 s after a reply arrives;
- Telegram: 20 and 40 reporters, 1 to 2 s after, within Telegram's ~1 message a second a chat and
  ~30 a second overall (the product's defaults: ``LAPOR_TELEGRAM_CHAT_SECONDS=1``,
  ``LAPOR_TELEGRAM_RATE=30``).

Each reporter walks the report flow by typing the same script as ``webhook_bench.py``, the first
message a random moment (within the level's answer time) after the level starts; one reporter per
channel warms the process up for two seconds first, untimed. A reply is
the first message to that chat that arrives after its delivery was posted (the platform may get
it before our 200 reaches the reporter: that counts as 0 ms). A delivery whose reply does not
arrive within 10 s is lost. Reported per level: replies, lost, p50/p95/p99 in ms, replies/s.
Targets: p99 ≤ 250 ms at 20 reporters, ≤ 500 ms at the higher level, none lost.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import free_port, scratch
from webhook_bench import APP_SECRET, SCRIPT, signed

from tests.fake_telegram import text_update

TOKEN = "123456:BENCH-token"
SECRET = "bench-telegram-secret"
LOST_AFTER = 10.0
WARM_UP = 2.0  # seconds of one reporter per channel before the timed levels
# Telegram numbers updates per bot, not per chat: one sequence for every simulated reporter.
UPDATE_IDS = itertools.count(1)
BOT_USER = {"id": 900000001, "is_bot": True, "first_name": "Lapor", "username": "lapor_bot"}


@dataclass
class Platform:
    """Both fake platforms: when each message to each chat arrived (monotonic seconds)."""

    arrivals: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    signals: dict[str, asyncio.Event] = field(default_factory=lambda: defaultdict(asyncio.Event))
    next_id: int = 1

    def arrived(self, chat: str) -> None:
        self.arrivals[chat].append(time.monotonic())
        self.signals[chat].set()

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/v23.0/{phone_number_id}/messages")
        async def whatsapp(phone_number_id: str, request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            self.arrived(f"wa:{body['to']}")
            self.next_id += 1
            return JSONResponse({"messages": [{"id": f"wamid.BENCH{self.next_id}"}]})

        @app.post("/bot{token}/{method}")
        async def telegram(token: str, method: str, request: Request) -> JSONResponse:
            name = method.lower()
            if name == "getme":
                return JSONResponse({"ok": True, "result": BOT_USER})
            if name != "sendmessage":
                return JSONResponse({"ok": True, "result": True})
            form = await request.form()
            chat = str(form.get("chat_id"))
            self.arrived(f"tg:{chat}")
            self.next_id += 1
            message = {
                "message_id": self.next_id,
                "date": int(time.time()),
                "chat": {"id": int(chat), "type": "private", "first_name": "Pelapor"},
                "text": str(form.get("text", "")),
            }
            return JSONResponse({"ok": True, "result": message})

        return app

    async def reply_after(self, chat: str, posted: float) -> float | None:
        """When the first message to ``chat`` after ``posted`` arrived (None: lost)."""
        deadline = posted + LOST_AFTER
        while True:
            for at in self.arrivals[chat]:
                if at > posted:
                    return at
            signal = self.signals[chat]
            signal.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                return None


@dataclass
class Level:
    channel: str
    reporters: int
    think: tuple[float, float]
    waits: list[float] = field(default_factory=list)
    lost: int = 0
    elapsed: float = 0.0


async def deliver(client: httpx.AsyncClient, path: str, **request: Any) -> httpx.Response:
    """POST a delivery; again if the connection broke (uvicorn closes idle keep-alive connections,
    and a reporter may pick one just then), as the platforms redeliver."""
    for _ in range(5):
        try:
            return await client.post(path, **request)
        except httpx.TransportError:
            await asyncio.sleep(0.05)
    return await client.post(path, **request)


async def reporter(
    number: int, level: Level, platform: Platform, client: httpx.AsyncClient, until: float
) -> None:
    chance = random.Random(number)  # noqa: S311 (a benchmark's think times)
    run = f"{os.getpid() % 1000:03d}{level.reporters:03d}"
    step = 0
    # Reporters come one by one, as they would, not all in the same millisecond: N first messages
    # at once are N replies at once, which Telegram's 30 a second (WhatsApp's 80) alone spreads
    # over N/30 seconds, whatever the product does.
    await asyncio.sleep(chance.uniform(0, level.think[1]))
    while time.monotonic() < until:
        text = SCRIPT[step % len(SCRIPT)]
        if level.channel == "whatsapp":
            wa_id = f"628{run}{number:05d}"
            chat = f"wa:{wa_id}"
            raw, headers = signed(wa_id, step, text)
            posted = time.monotonic()
            answer = await deliver(client, "/webhooks/whatsapp", content=raw, headers=headers)
        else:
            user_id = int(f"7{run}{number:04d}")
            chat = f"tg:{user_id}"
            posted = time.monotonic()
            answer = await deliver(
                client,
                "/webhooks/telegram",
                json=text_update(next(UPDATE_IDS), user_id, text),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            )
        acknowledged = time.monotonic()
        if answer.status_code != 200:
            raise SystemExit(f"the webhook answered {answer.status_code}: {answer.text}")
        step += 1
        arrived = await platform.reply_after(chat, posted)
        if arrived is None:
            level.lost += 1
            continue
        level.waits.append(max(0.0, arrived - acknowledged))
        await asyncio.sleep(chance.uniform(*level.think))


async def measure(levels: list[Level], base: str, seconds: float, platform: Platform) -> None:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        # A fresh process's first turns load and compile what later turns reuse: not timed.
        for channel in {level.channel for level in levels}:
            warm_up = Level(channel, 1, (0.0, 0.1))
            await reporter(0, warm_up, platform, client, time.monotonic() + WARM_UP)
        for level in levels:
            started = time.monotonic()
            until = started + seconds
            await asyncio.gather(
                *(reporter(n, level, platform, client, until) for n in range(level.reporters))
            )
            level.elapsed = time.monotonic() - started


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def until_ready(base: str) -> None:
    # Generous: on a busy shared machine the process's imports alone can take a minute.
    deadline = time.monotonic() + 300
    async with httpx.AsyncClient(base_url=base, timeout=2) as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"{base} did not come up")


async def main_async(arguments: argparse.Namespace) -> list[Level]:
    platform = Platform()
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(platform.app(), port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    workdir = scratch("lapor-wait-")
    database_url = arguments.database_url or f"sqlite:///{workdir / 'bench.db'}"
    fake = f"http://127.0.0.1:{port}"
    app_port = free_port()
    env = {
        **os.environ,
        "LAPOR_DATABASE_URL": database_url,
        "LAPOR_STATE_DIR": str(workdir / "state"),
        "LAPOR_LOG_LEVEL": "WARNING",
        "LAPOR_WHATSAPP_APP_SECRET": APP_SECRET,
        "LAPOR_WHATSAPP_VERIFY_TOKEN": "bench",
        "LAPOR_WHATSAPP_ACCESS_TOKEN": "graph-token",
        "LAPOR_WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
        "LAPOR_WHATSAPP_API_URL": f"{fake}/v23.0",
        "LAPOR_TELEGRAM_TOKEN": TOKEN,
        "LAPOR_TELEGRAM_MODE": "webhook",
        "LAPOR_TELEGRAM_WEBHOOK_SECRET": SECRET,
        "LAPOR_TELEGRAM_API_URL": f"{fake}/bot",
        "LAPOR_TELEGRAM_FILE_URL": f"{fake}/file/bot",
        # Reporters who answer every half second would trip the flood guard in a minute.
        "LAPOR_BURST_MESSAGES": "1000000",
        "LAPOR_REPORTS_PER_HOUR": "1000000",
    }
    lapor = str(Path(sys.executable).parent / "lapor")
    process = subprocess.Popen(
        [lapor, "serve", "--port", str(app_port)], env=env, stdout=subprocess.DEVNULL
    )
    levels = [
        Level(channel, reporters, think)
        for channel, reporters, think in (
            ("whatsapp", 20, (0.25, 0.75)),
            ("whatsapp", 60, (0.25, 0.75)),
            ("telegram", 20, (1.0, 2.0)),
            ("telegram", 40, (1.0, 2.0)),
        )
        if arguments.channel in ("both", channel)
    ]
    try:
        base = f"http://127.0.0.1:{app_port}"
        await until_ready(base)
        await measure(levels, base, arguments.seconds, platform)
    finally:
        process.terminate()
        process.wait(20)
        server.should_exit = True
        await serving
    return levels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("seconds", type=float, nargs="?", default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--channel", choices=("both", "whatsapp", "telegram"), default="both")
    levels = asyncio.run(main_async(parser.parse_args()))
    for level in levels:
        waits = [wait * 1000 for wait in level.waits]
        target = 250 if level.reporters == 20 else 500
        p99 = percentile(waits, 0.99)
        print(
            f"{level.channel:8} {level.reporters:3} reporters: {len(waits):5} replies "
            f"{level.lost:3} lost  p50 {percentile(waits, 0.5):6.1f}  "
            f"p95 {percentile(waits, 0.95):6.1f}  p99 {p99:6.1f} ms  "
            f"mean {statistics.fmean(waits) if waits else float('nan'):6.1f} ms  "
            f"{len(waits) / level.elapsed:6.1f} replies/s  "
            f"(target p99 ≤ {target} ms, none lost: "
            f"{'met' if p99 <= target and not level.lost else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
