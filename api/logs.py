"""Structured JSON logs that cannot carry what a reporter wrote or who they are.

Only allow-listed fields are written; anything else passed in ``extra`` is dropped. Exceptions are
written as their type and the stack's file:line:function, never their message: messages of
validation and database errors quote the input they choked on.
"""

from __future__ import annotations

import json
import logging
import sys
import traceback
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

SAFE_FIELDS = frozenset(
    {
        "event",
        "method",
        "route",
        "status",
        "duration_ms",
        "channel",
        "result",
        "count",
        "error_id",
        "error_type",
        "path",
        "revision",
        "backend",
        "host",
        "port",
        "workers",
        "size",
        "limit",
    }
)

# Loggers whose arguments are known to be process facts (pid, bind address), never request data.
FORMATTED_LOGGERS = frozenset({"uvicorn.error"})

ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


def describe_exception(exc_info: ExcInfo) -> dict[str, Any]:
    kind, _value, tb = exc_info
    frames = [f"{frame.filename}:{frame.lineno}:{frame.name}" for frame in traceback.extract_tb(tb)]
    return {"error_type": f"{kind.__module__}.{kind.__qualname__}", "stack": frames[-12:]}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        if record.name in FORMATTED_LOGGERS:
            message = record.getMessage()
        elif isinstance(record.msg, str) and not record.args:
            message = record.msg
        else:
            # Our own messages are constant strings; elsewhere, arguments are where request
            # data would come in, so such a message is not written.
            message = "-"
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": message,
        }
        for name in SAFE_FIELDS:
            if name in record.__dict__:
                entry[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            entry.update(describe_exception(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", "httpcore", "telegram"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # uvicorn's access log would write raw paths and query strings; ours writes route templates.
    logging.getLogger("uvicorn.access").disabled = True
    # Libraries that write a line per request or per turn at INFO ("-" once their arguments are
    # dropped): the logs are for the product's own events.
    for name in ("httpx", "httpcore", "alembic", "transitions"):
        logging.getLogger(name).setLevel(logging.WARNING)
