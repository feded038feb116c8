"""Servers on loopback for tests: the app itself, and a fake WhatsApp Graph API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """``app`` on a free loopback port under a real uvicorn; its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="off", limit_concurrency=200)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class FakeGraph:
    """The Graph API's send endpoint: records what it got. Each call first takes the next of
    ``refusals``: ``(status, error)`` refuses it, ``None`` lets it through."""

    sent: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[tuple[int, dict[str, Any]] | None] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    media: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # media id: content, type
    base_url: str = ""  # where the media URLs point (set once served)
    # While ``gate`` is set to a closed event, each send waits for it to open (a test kills the
    # sender meanwhile); a send whose caller has gone by then is not delivered, as on the platform.
    gate: threading.Event | None = None
    arrived: threading.Event = field(default_factory=threading.Event)
    abandoned: int = 0
    times: list[float] = field(default_factory=list)  # when each of ``sent`` came (monotonic)

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v23.0/{media_id}")
        async def media_info(media_id: str, request: Request) -> Response:
            if request.headers.get("authorization") != "Bearer graph-token":
                return JSONResponse({"error": {"code": 190}}, status_code=401)
            if media_id not in self.media:
                return JSONResponse({"error": {"code": 100}}, status_code=404)
            content, mime_type = self.media[media_id]
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "id": media_id,
                    "url": f"{self.base_url}/files/{media_id}",
                    "mime_type": mime_type,
                    "sha256": "",
                    "file_size": len(content),
                }
            )

        @app.get("/files/{media_id}")
        async def media_file(media_id: str, request: Request) -> Response:
            if request.headers.get("authorization") != "Bearer graph-token":
                return JSONResponse({"error": {"code": 190}}, status_code=401)
            content, mime_type = self.media[media_id]
            return Response(content, media_type=mime_type)

        @app.post("/v23.0/{phone_number_id}/messages")
        async def messages(phone_number_id: str, request: Request) -> JSONResponse:
            body = await request.json()
            gate = self.gate
            if gate is not None:
                self.arrived.set()
                while not gate.is_set():
                    await asyncio.sleep(0.02)
                if await request.is_disconnected():
                    with self.lock:
                        self.abandoned += 1
                    return JSONResponse({}, status_code=499)
            with self.lock:
                self.tokens.add(request.headers.get("authorization", ""))
                refusal = self.refusals.pop(0) if self.refusals else None
                if refusal is not None:
                    status, error = refusal
                    self.refused.append(body)
                    return JSONResponse({"error": error}, status_code=status)
                self.sent.append(body)
                self.times.append(time.monotonic())
                number = len(self.sent)
            return JSONResponse(
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                    "messages": [{"id": f"wamid.BOT{number:05d}"}],
                }
            )

        return app

    def texts(self) -> list[str]:
        found = []
        for body in self.sent:
            if body["type"] == "text":
                found.append(body["text"]["body"])
            else:
                found.append(body["interactive"]["body"]["text"])
        return found


def graph_error(code: int, message: str = "refused") -> dict[str, Any]:
    return {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}
