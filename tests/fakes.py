"""Servers on loopback for tests: the app itself, and a fake WhatsApp Graph API."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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


# WhatsApp's customer-service window, and the template statuses the fake answers for.
WINDOW = timedelta(hours=24)
TEMPLATE_ERRORS = {"PAUSED": 132015, "DISABLED": 132016}


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class FakeGraph:
    """The Graph API's send endpoint: records what it got. Each call first takes the next of
    ``refusals``: ``(status, error)`` refuses it, ``None`` lets it through.

    With ``enforce_window``, a free-form message goes only to a recipient who ``wrote`` less than
    24 hours ago by ``clock``, else 131047, as Graph answers. Templates are checked as Graph
    does: a ``(name, language)`` not in ``templates`` is 132001, a paused one 132015, a disabled
    one 132016, and parameters for a template that has none 132000."""

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
    enforce_window: bool = False
    clock: Callable[[], datetime] = _now
    last_inbound: dict[str, datetime] = field(default_factory=dict)
    templates: dict[tuple[str, str], str] = field(default_factory=dict)  # status, e.g. APPROVED

    def wrote(self, wa_id: str) -> None:
        """The recipient sent a message (through Meta, to our webhook): their window opens."""
        with self.lock:
            self.last_inbound[wa_id] = self.clock()

    def _refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        if body.get("messaging_product") != "whatsapp" or not body.get("to"):
            return graph_error(100, "Invalid parameter")
        if body.get("type") == "template":
            return _template_refusal(body.get("template"), self.templates)
        wrote = self.last_inbound.get(str(body["to"]))
        if self.enforce_window and (wrote is None or self.clock() - wrote >= WINDOW):
            return graph_error(131047, "Re-engagement message")
        return None

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
                if refusal is None and (error := self._refusal(body)) is not None:
                    refusal = (400, error)
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
        """The free-form messages delivered, in order (templates are not among them)."""
        found = []
        for body in self.sent:
            if body["type"] == "text":
                found.append(body["text"]["body"])
            elif body["type"] == "interactive":
                found.append(body["interactive"]["body"]["text"])
        return found

    def templates_sent(self) -> list[str]:
        return [body["template"]["name"] for body in self.sent if body["type"] == "template"]


def graph_error(code: int, message: str = "refused") -> dict[str, Any]:
    return {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}


def _template_refusal(template: Any, known: dict[tuple[str, str], str]) -> dict[str, Any] | None:
    language = template.get("language") if isinstance(template, dict) else None
    name = template.get("name") if isinstance(template, dict) else None
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not isinstance(code, str):
        return graph_error(100, "Invalid parameter")
    status = known.get((name, code))
    if status is None:
        return graph_error(132001, "Template name does not exist in the translation")
    if status in TEMPLATE_ERRORS:
        return graph_error(TEMPLATE_ERRORS[status], f"Template {status.lower()}")
    if template.get("components"):  # ours have no parameters
        return graph_error(132000, "Number of parameters does not match the expected number")
    return None
