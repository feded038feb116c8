"""A real ``lapor serve`` process killed with SIGKILL mid-turn and mid-send, then restarted on the
same database: every delivery makes one turn and the reporter gets each reply once.

A delivery is recorded and processed in one transaction, so a kill leaves either nothing (the
webhook never answered 200 and the platform sends it again) or the whole turn with its replies in
the outbox (a repeat of the delivery is then acknowledged and ignored)."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from storage.db import Database
from tests.api.test_whatsapp_webhook import APP_SECRET, WA_ID, envelope, signed
from tests.fakes import FakeGraph, serve

LEASE_SECONDS = 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``lapor serve`` in its own process, restartable on the same database and keys."""

    def __init__(self, tmp_path: Path, database_url: str, graph_url: str) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = tmp_path / "serve.log"
        self.env = {
            **os.environ,
            "LAPOR_DATABASE_URL": database_url,
            "LAPOR_STATE_DIR": str(tmp_path / "state"),
            "LAPOR_WHATSAPP_APP_SECRET": APP_SECRET,
            "LAPOR_WHATSAPP_VERIFY_TOKEN": "verify",
            "LAPOR_WHATSAPP_ACCESS_TOKEN": "graph-token",
            "LAPOR_WHATSAPP_PHONE_NUMBER_ID": "100000000000001",
            "LAPOR_WHATSAPP_API_URL": f"{graph_url}/v23.0",
            "LAPOR_SEND_POLL_SECONDS": "0.05",
            "LAPOR_SEND_LEASE_SECONDS": str(LEASE_SECONDS),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.ready_seconds = 60.0  # how long a start may take (longer with several at once)

    def start(self) -> None:
        command = [str(Path(sys.executable).parent / "lapor"), "serve", "--port", str(self.port)]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + self.ready_seconds
        while True:
            assert self.process.poll() is None, self.log.read_text()
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "lapor serve did not come up"
            time.sleep(0.1)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(20)

    def deliver(self, raw: bytes, headers: dict[str, str], timeout: float = 30) -> int:
        return httpx.post(
            f"{self.base}/webhooks/whatsapp", content=raw, headers=headers, timeout=timeout
        ).status_code


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    with serve(fake.app()) as base:
        yield fake, base


@contextmanager
def running(tmp_path: Path, database: Database, graph_url: str) -> Iterator[Server]:
    server = Server(tmp_path, database.url.render_as_string(False), graph_url)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def count(database: Database, sql: str) -> int:
    with database.engine.connect() as connection:
        return int(connection.execute(sa.text(sql)).scalar_one())


def halo(number: int = 1, wa_id: str = WA_ID) -> tuple[bytes, dict[str, str]]:
    message = {"from": wa_id, "id": f"wamid.crash.{number}", "timestamp": "1767225600"}
    return signed(envelope({**message, "type": "text", "text": {"body": "halo"}}))


def wait_for(condition: object, seconds: float = 30) -> None:
    assert callable(condition)
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_process_killed_while_sending_delivers_the_reply_once_after_restart(
    tmp_path: Path, database: Database, graph: tuple[FakeGraph, str]
) -> None:
    fake, graph_url = graph
    fake.gate = threading.Event()
    raw, headers = halo()
    with running(tmp_path, database, graph_url) as server:
        assert server.deliver(raw, headers) == 200
        assert fake.arrived.wait(30), "the sender never sent the reply"
        server.kill()  # the reply is on the wire, not yet accepted
        fake.gate.set()
        wait_for(lambda: fake.abandoned == 1)
        fake.gate = None
        server.start()
        # The platform never saw our 200 for all it knows: it delivers the message again.
        assert server.deliver(raw, headers) == 200
        wait_for(lambda: len(fake.sent) == 1)
        time.sleep(LEASE_SECONDS + 1)  # past the lease: a second copy would have gone by now
    assert len(fake.sent) == 1
    assert fake.sent[0]["to"] == WA_ID
    assert count(database, "SELECT count(*) FROM inbound") == 1
    assert count(database, "SELECT count(*) FROM outbox WHERE status = 'sent'") == 1
    assert count(database, "SELECT count(*) FROM outbox") == 1


def test_a_process_killed_mid_turn_keeps_nothing_and_the_redelivery_makes_one_turn(
    tmp_path: Path, database: Database, graph: tuple[FakeGraph, str]
) -> None:
    fake, graph_url = graph
    raw, headers = halo()
    answers: list[int | str] = []
    with running(tmp_path, database, graph_url) as server:
        # Hold the inbound table (SQLite: the write lock, which storage.db takes at BEGIN), so
        # the turn stops inside its transaction; it is killed there.
        with database.engine.begin() as blocker:
            if database.backend == "postgresql":
                blocker.execute(sa.text("LOCK TABLE inbound IN EXCLUSIVE MODE"))

            def post() -> None:
                try:
                    answers.append(server.deliver(raw, headers, timeout=60))
                except httpx.HTTPError as error:
                    answers.append(type(error).__name__)

            poster = threading.Thread(target=post)
            poster.start()
            time.sleep(1.5)
            server.kill()
            poster.join(30)
        assert len(answers) == 1
        assert answers[0] != 200, answers  # the platform did not get its 200
        assert count(database, "SELECT count(*) FROM inbound") == 0
        server.start()
        assert server.deliver(raw, headers) == 200
        wait_for(lambda: len(fake.sent) == 1)
        assert server.deliver(raw, headers) == 200  # and a late repeat changes nothing
        time.sleep(1)
    assert len(fake.sent) == 1
    assert count(database, "SELECT count(*) FROM inbound") == 1
    assert count(database, "SELECT count(*) FROM conversation") == 1


def test_kills_at_random_moments_lose_no_delivery_and_double_no_turn(
    tmp_path: Path, database: Database, graph: tuple[FakeGraph, str]
) -> None:
    """Forty reporters write while the server is killed three times at random moments; the
    platform delivers each message until it gets a 200, as WhatsApp does."""
    fake, graph_url = graph
    chance = random.Random(20261130)
    reporters = [f"62812000{n:04d}" for n in range(40)]
    kills = 3
    with running(tmp_path, database, graph_url) as server:
        raw, headers = halo(0, "628129999999")
        assert server.deliver(raw, headers) == 200  # one undisturbed turn: how many messages
        wait_for(lambda: len(fake.sent) > 0)
        time.sleep(1)
        per_turn = len(fake.sent)

        unanswered: list[int] = []  # deliveries the platform had to send again

        def platform() -> None:
            for number, wa_id in enumerate(reporters, start=1):
                raw, headers = halo(number, wa_id)
                while True:
                    try:
                        if server.deliver(raw, headers, timeout=10) == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    unanswered.append(number)
                    time.sleep(0.1)

        writer = threading.Thread(target=platform)
        writer.start()
        for _ in range(kills):
            time.sleep(chance.uniform(0.2, 1.5))
            server.kill()
            server.start()
        writer.join(120)
        assert not writer.is_alive()
        wait_for(
            lambda: count(database, "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0
        )
    got = Counter(str(body["to"]) for body in fake.sent)
    assert count(database, "SELECT count(*) FROM inbound") == len(reporters) + 1
    assert count(database, "SELECT count(*) FROM conversation") == len(reporters) + 1
    assert all(got[wa_id] >= per_turn for wa_id in reporters), got  # every reply arrived
    # A kill after the platform took a message but before we recorded it sends that one again:
    # the one window no sender can close without the platform's help, at most once a kill.
    assert sum(got[wa_id] - per_turn for wa_id in reporters) <= kills
