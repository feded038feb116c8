"""The outermost guard: body size limit, access log, and no stack trace ever reaching a client."""

from __future__ import annotations

import json
import logging
import secrets
import sys
import time
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("lapor.http")


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(status_code=413, detail=f"request body larger than {limit} bytes")


async def send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class GuardMiddleware:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state = {"status": 0}
        limit = self.max_body_bytes

        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_json(send, 413, {"detail": f"request body larger than {limit} bytes"})
            self._log(scope, 413, started)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except ClientDisconnect:
            # The caller left before its body arrived: nothing was taken, and a platform sends
            # the delivery again. Not an error of ours; 499 as proxies log it.
            state["status"] = state["status"] or 499
        except Exception:
            error_id = log_unhandled()
            if state["status"] == 0:
                state["status"] = 500
                await send_json(send, 500, {"detail": "internal error", "error_id": error_id})
        self._log(scope, state["status"], started)

    @staticmethod
    def _log(scope: Scope, status: int, started: float) -> None:
        route = scope.get("route")
        log.info(
            "request",
            extra={
                "event": "request",
                "method": scope.get("method"),
                # The template (/api/v1/reports/{report_id}), never the raw path or query string.
                "route": getattr(route, "path", "<unmatched>"),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 2),
            },
        )


def log_unhandled() -> str:
    """Log the exception being handled (by its type and place; see api.logs) under a new id,
    which the client may be shown; the id."""
    error_id = secrets.token_hex(6)
    log.error(
        "unhandled error",
        exc_info=sys.exc_info(),
        extra={"event": "unhandled_error", "error_id": error_id},
    )
    return error_id


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None
