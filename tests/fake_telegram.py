"""A fake Telegram Bot API server for python-telegram-bot to talk to over loopback (its
``base_url``): it answers the methods the bot uses and records every call (PROTOCOLS §3)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

TOKEN = "123456:TEST-token"
BOT_USER = {
    "id": 900000001,
    "is_bot": True,
    "first_name": "Lapor Bot",
    "username": "test_lapor_bot",
}
JSON_FIELDS = ("reply_markup", "entities", "allowed_updates")


def text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    """A Telegram update: a person typing ``text`` in their private chat with the bot."""
    person = {"id": user_id, "is_bot": False, "first_name": "Pelapor"}
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "from": person,
            "chat": {"id": user_id, "first_name": "Pelapor", "type": "private"},
            "date": 1767225600,
            "text": text,
        },
    }


def callback_update(
    update_id: int, user_id: int, data: str, message_id: int = 5, text: str = "…"
) -> dict[str, Any]:
    """A Telegram update: a person tapping the button ``data`` under the bot's message
    ``message_id`` (showing ``text``) in their private chat with the bot."""
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"4382{update_id}",
            "from": {"id": user_id, "is_bot": False, "first_name": "Pelapor"},
            "message": {
                "message_id": message_id,
                "from": {"id": BOT_USER["id"], "is_bot": True, "first_name": "Lapor Bot"},
                "chat": {"id": user_id, "first_name": "Pelapor", "type": "private"},
                "date": 1767225601,
                "text": text,
            },
            "chat_instance": "-1234567890123456789",
            "data": data,
        },
    }


@dataclass
class FakeBotApi:
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)
    # Answers for sendMessage, taken one per call first: (HTTP status, body).
    refusals: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_message_id: int = 1000
    files: dict[str, bytes] = field(default_factory=dict)  # file id: content
    times: list[float] = field(default_factory=list)  # when each of ``calls`` came (monotonic)
    # Another bot (the officers') is another token and another user on its own fake server.
    token: str = TOKEN
    user: dict[str, Any] = field(default_factory=lambda: dict(BOT_USER))

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/file/bot{token}/{path:path}")
        async def file(token: str, path: str) -> Response:
            file_id = path.rsplit("/", 1)[-1].split(".", maxsplit=1)[0]
            if token != self.token or file_id not in self.files:
                return Response(status_code=404)
            return Response(self.files[file_id], media_type="application/octet-stream")

        @app.post("/bot{token}/{method}")
        async def method(token: str, method: str, request: Request) -> JSONResponse:
            if token != self.token:
                return JSONResponse(
                    {"ok": False, "error_code": 401, "description": "Unauthorized"}, 401
                )
            params = await _params(request)
            with self.lock:
                self.calls.append((method.lower(), params))
                self.times.append(time.monotonic())
                return self._answer(method.lower(), params)

        return app

    def _answer(self, method: str, params: dict[str, Any]) -> JSONResponse:
        handler = {
            "getme": lambda _: _ok(self.user),
            "sendmessage": self._send_message,
            "getfile": self._get_file,
            "getupdates": self._get_updates,
        }.get(method)
        # answerCallbackQuery, deleteMessage, setWebhook, deleteWebhook, …
        return handler(params) if handler is not None else _ok(True)

    def _send_message(self, params: dict[str, Any]) -> JSONResponse:
        if self.refusals:
            status, body = self.refusals.pop(0)
            return JSONResponse(body, status_code=status)
        self.next_message_id += 1
        self.delivered.append({**params, "message_id": self.next_message_id})
        return _ok(
            {
                "message_id": self.next_message_id,
                "from": self.user,
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "date": 1767225600,
                "text": params["text"],
            }
        )

    def _get_file(self, params: dict[str, Any]) -> JSONResponse:
        file_id = str(params["file_id"])
        if file_id not in self.files:
            return JSONResponse(
                {"ok": False, "error_code": 400, "description": "Bad Request: invalid file_id"},
                400,
            )
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": len(self.files[file_id]),
                # Telegram's paths name the kind of file: a photo's ends in .jpg.
                "file_path": (
                    f"photos/{file_id}.jpg"
                    if self.files[file_id].startswith(b"\xff\xd8")
                    else f"documents/{file_id}.pdf"
                ),
            }
        )

    def _get_updates(self, params: dict[str, Any]) -> JSONResponse:
        offset = int(params.get("offset") or 0)
        return _ok([update for update in self.updates if update["update_id"] >= offset])

    def sent(self) -> list[dict[str, Any]]:
        """The messages the fake accepted (refused ones are only in ``calls``)."""
        with self.lock:
            return list(self.delivered)

    def texts(self) -> list[str]:
        return [str(params["text"]) for params in self.sent()]

    def called(self, name: str) -> list[dict[str, Any]]:
        with self.lock:
            return [params for method, params in self.calls if method == name.lower()]


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


async def _params(request: Request) -> dict[str, Any]:
    """PTB posts form fields with JSON-encoded values for the structured ones."""
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.json()
        return body if isinstance(body, dict) else {}
    form = await request.form()
    params: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
    for name in JSON_FIELDS:
        if name in params:
            params[name] = json.loads(params[name])
    return params
