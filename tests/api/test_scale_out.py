"""Scale-out on PostgreSQL: three real ``lapor serve`` processes share one database behind a
(simulated) load balancer, with WhatsApp and Telegram (webhook) reporters spread across them; one
process is killed with SIGKILL and started again mid-run. Every delivery makes one turn and every
reply is sent once (a kill may resend the one message it had on the wire, as on one process)."""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from storage.db import Database
from tests.api.test_crash import LEASE_SECONDS, Server, count, halo, wait_for
from tests.fake_telegram import TOKEN, FakeBotApi, text_update
from tests.fakes import FakeGraph, serve

SECRET = "scale-out-secret"
PROCESSES = 3
REPORTERS = 24  # on each channel


@pytest.fixture
def platforms() -> Iterator[tuple[FakeGraph, str, FakeBotApi, str]]:
    graph, bot_api = FakeGraph(), FakeBotApi()
    with serve(graph.app()) as graph_url, serve(bot_api.app()) as bot_url:
        yield graph, graph_url, bot_api, bot_url


class Balancer:
    """Round robin over the processes; a delivery that gets no 200 goes to the next one, as the
    platforms redeliver (and some are delivered twice, as the platforms also do)."""

    def __init__(self, servers: list[Server]) -> None:
        self.servers = servers
        self.turn = itertools.count()
        self.refused = 0
        self.closed = False  # the test is over (failed): the platform stops trying

    def post(self, path: str, **request: Any) -> None:
        while not self.closed:
            server = self.servers[next(self.turn) % len(self.servers)]
            try:
                answer = httpx.post(f"{server.base}{path}", timeout=10, **request)
                if answer.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            self.refused += 1
            time.sleep(0.05)

    def whatsapp(self, number: int, wa_id: str) -> None:
        raw, headers = halo(number, wa_id)
        self.post("/webhooks/whatsapp", content=raw, headers=headers)

    def telegram(self, update_id: int, user_id: int) -> None:
        self.post(
            "/webhooks/telegram",
            json=text_update(update_id, user_id, "halo"),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_three_processes_on_postgresql_survive_a_kill_with_each_turn_once_and_each_reply_once(
    tmp_path: Path, database: Database, platforms: tuple[FakeGraph, str, FakeBotApi, str]
) -> None:
    graph, graph_url, bot_api, bot_url = platforms
    servers = []
    for number in range(PROCESSES):
        server = Server(tmp_path, database.url.render_as_string(False), graph_url)
        server.log = tmp_path / f"serve-{number}.log"
        server.ready_seconds = 240  # three processes starting at once on a busy machine
        server.env.update(
            {
                "LAPOR_TELEGRAM_TOKEN": TOKEN,
                "LAPOR_TELEGRAM_MODE": "webhook",
                "LAPOR_TELEGRAM_WEBHOOK_SECRET": SECRET,
                "LAPOR_TELEGRAM_API_URL": f"{bot_url}/bot",
                "LAPOR_TELEGRAM_FILE_URL": f"{bot_url}/file/bot",
                "LAPOR_TELEGRAM_CHAT_SECONDS": "0.2",
                "LAPOR_SEND_POLL_SECONDS": "0.2",
            }
        )
        servers.append(server)
    chance = random.Random(20261201)
    wa_ids = [f"62813000{n:04d}" for n in range(REPORTERS)]
    user_ids = [880000000 + n for n in range(REPORTERS)]
    balancer = Balancer(servers)
    try:
        starting = [threading.Thread(target=server.start) for server in servers]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        for server in servers:  # each came up (a start that failed left its process dead)
            assert server.process is not None
            assert server.process.poll() is None
            assert httpx.get(f"{server.base}/readyz", timeout=5).status_code == 200
        # One undisturbed turn on each channel: how many messages "halo" is answered with.
        balancer.whatsapp(0, "628139999999")
        balancer.telegram(1, 889999999)
        wait_for(lambda: len(graph.sent) > 0 and len(bot_api.sent()) > 0)
        time.sleep(1.5)
        wa_turn = len(graph.sent)
        tg_turn = len(bot_api.sent())

        def whatsapp_platform() -> None:
            for number, wa_id in enumerate(wa_ids, start=1):
                balancer.whatsapp(number, wa_id)
                if number % 4 == 0:
                    balancer.whatsapp(number, wa_id)  # a duplicate delivery, elsewhere

        def telegram_platform() -> None:
            for update_id, user_id in enumerate(user_ids, start=2):
                balancer.telegram(update_id, user_id)
                if update_id % 4 == 0:
                    balancer.telegram(update_id, user_id)

        writers = [
            threading.Thread(target=whatsapp_platform, daemon=True),
            threading.Thread(target=telegram_platform, daemon=True),
        ]
        for writer in writers:
            writer.start()
        time.sleep(chance.uniform(0.3, 1.0))
        victim = servers[1]
        victim.kill()
        time.sleep(0.5)
        victim.start()
        for writer in writers:
            writer.join(180)
            assert not writer.is_alive()
        wait_for(
            lambda: count(database, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0,
            60,
        )
        time.sleep(LEASE_SECONDS + 1)  # past any lease: a second copy would have gone by now
    finally:
        balancer.closed = True
        for server in servers:
            server.stop()
    assert count(database, "SELECT count(*) FROM inbound") == 2 * REPORTERS + 2
    assert count(database, "SELECT count(*) FROM conversation") == 2 * REPORTERS + 2
    assert count(database, "SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0
    to_wa = Counter(str(body["to"]) for body in graph.sent)
    to_tg = Counter(str(params["chat_id"]) for params in bot_api.sent())
    assert all(to_wa[wa_id] >= wa_turn for wa_id in wa_ids), to_wa  # every reply arrived
    assert all(to_tg[str(user_id)] >= tg_turn for user_id in user_ids), to_tg
    resent = sum(to_wa[wa_id] - wa_turn for wa_id in wa_ids) + sum(
        to_tg[str(user_id)] - tg_turn for user_id in user_ids
    )
    assert resent <= 1  # one kill: at most the one message it had on the wire
