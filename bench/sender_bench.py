"""The outbox sender alone: the CPU it spends on a reply, against a bare POST of the same replies.

Run: ``.venv/bin/python bench/sender_bench.py [replies] [--profile=PATH]``

WhatsApp reporters walk the flow through ``Inbox.submit`` (no sender running) until ``replies``
replies wait in the outbox; then the process's sender (``OutboxSender`` with the WhatsApp
transport, as ``lapor serve`` builds them) sends them all to a fake Graph API in its own process
and records them. Compared, in the same run and to the same fake: the same replies POSTed by bare
urllib3 from as many threads (what the HTTP itself costs the sending process). Reported: replies
a second and CPU a reply of this process, and their ratio. ``--profile=PATH``: py-spy samples
this process while the sender sends (raw stacks to PATH).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import urllib3
from sqlalchemy import func
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import free_port, profile, scratch, start, stop, wait_ready
from turn_bench import SCRIPT

from bot.inbox import Inbox
from bot.messages import InboundMessage, OutboundMessage
from bot.sender import OutboxSender, WhatsAppTransport
from bot.whatsapp import render
from bot.window import Templates, Windows
from flows.loader import load_flows
from storage.crypto import Crypto, Keys, generate_data_key, generate_secret
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Channel, OutboxMessage, OutboxStatus, utcnow

GRAPH_APP = """
from tests.fakes import FakeGraph

app = FakeGraph().app()
"""
THREADS = 8  # the sender's threads (``LAPOR_SEND_THREADS``' default) and the bare POSTs'
REPORTERS = 500
_PENDING = OutboxMessage.status == OutboxStatus.pending


def queue_replies(inbox: Inbox, replies: int) -> int:
    """Turns until at least ``replies`` wait in the outbox, the reporters taking turns (as
    under load: a batch the sender leases holds many chats); how many wait."""
    deliveries = itertools.count()
    for user_input in itertools.cycle(SCRIPT):
        for reporter in range(REPORTERS):
            identity = f"62877{reporter:07d}"
            message = InboundMessage(
                channel=Channel.whatsapp,
                delivery_id=f"wamid.{next(deliveries)}",
                identity=identity,
                address=identity,
                input=user_input,
            )
            inbox.submit(message).result()
        waiting = pending(inbox.database)
        if waiting >= replies:
            return waiting
    raise AssertionError("unreachable")


def pending(database: Database) -> int:
    with database.read() as session:
        return session.exec(select(func.count()).where(_PENDING)).one()


def bare_posts(url: str, token: str, replies: list[list[dict[str, object]]]) -> tuple[float, float]:
    """The replies POSTed by urllib3 (one connection pool, as the transport keeps; every part
    of a reply, one after the other) from ``THREADS`` threads: replies per second, CPU seconds
    a reply."""
    http = urllib3.connection_from_url(url, maxsize=THREADS, retries=False)
    path = urllib3.util.parse_url(url).request_uri
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(parts: list[dict[str, object]]) -> None:
        for part in parts:
            body = json.dumps(part).encode()
            json.loads(http.urlopen("POST", path, body=body, headers=headers).data)

    cpu, wall = time.process_time(), time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(post, replies))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(replies) / wall, cpu / len(replies)


def send_all(sender: OutboxSender, replies: int) -> tuple[float, float]:
    """The sender's run until nothing is pending: replies per second, CPU seconds each."""
    stop_event = threading.Event()
    thread = threading.Thread(target=sender.run_forever, args=(stop_event,), daemon=True)
    cpu, wall = time.process_time(), time.perf_counter()
    thread.start()
    sender.wake()
    while pending(sender.database):
        time.sleep(0.05)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    stop_event.set()
    sender.wake()
    thread.join(10)
    sender.stop()
    return replies / wall, cpu / replies


def main() -> None:
    args = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    wanted = int(args[0]) if args else 5000
    profile_to = next(
        (arg.partition("=")[2] for arg in sys.argv[1:] if arg.startswith("--profile=")), None
    )
    workdir = scratch("lapor-bench-")
    (workdir / "graph_app.py").write_text(GRAPH_APP)
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(Path.cwd())}
    uvicorn = [sys.executable, "-m", "uvicorn", "--log-level", "warning", "--port", str(port)]
    graph = start([*uvicorn, "graph_app:app"], workdir, env)
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    database = Database(url)
    keys = Keys(generate_secret(), generate_secret(), [generate_data_key()])
    crypto = Crypto.from_keys(keys)
    inbox = Inbox(database, crypto, load_flows())
    windows = Windows(database, crypto.hasher, Templates.of("lapor_aman_update", "", "id"))
    inbox.on_wrote = windows.wrote
    try:
        api = f"http://127.0.0.1:{port}/v23.0"
        wait_ready(f"http://127.0.0.1:{port}", "/docs")
        replies = queue_replies(inbox, wanted)
        transport = WhatsAppTransport(api, "100000000000001", "graph-token", rate=100_000)
        transport.windows = windows
        # The bare POSTs send what the sender will: the same replies, rendered the same way.
        with database.read() as session:
            rows = session.exec(select(OutboxMessage).where(_PENDING)).all()
            payloads = [
                render(
                    OutboundMessage.from_bytes(crypto.cipher.decrypt(row.payload)),
                    crypto.cipher.decrypt_text(row.address),
                )
                for row in rows
            ]
        bare_rate, bare_cpu = bare_posts(transport.url, "graph-token", payloads)
        sender = OutboxSender(
            database,
            crypto,
            [transport],
            lease=timedelta(seconds=60),
            threads=THREADS,
            clock=utcnow,
        )
        spy = profile(os.getpid(), 60, profile_to)
        rate, cpu = send_all(sender, replies)
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes what it has on ^C
            spy.wait(30)
    finally:
        stop(graph)
        database.dispose()
    print(f"replies queued                  {replies}")
    print(f"bare POSTs (urllib3)   {bare_rate:8.0f} /s  {bare_cpu * 1e6:6.0f} µs CPU a reply")
    print(f"outbox sender         {rate:8.0f} /s  {cpu * 1e6:6.0f} µs CPU a reply")
    print(f"ratio of CPU a reply (sender ÷ bare POST): {cpu / bare_cpu:.2f}")


if __name__ == "__main__":
    main()
