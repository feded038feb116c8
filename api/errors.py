"""Errors the API answers on purpose, as JSON in the shapes of :mod:`api.schemas`."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import JSONResponse


class Refused(Exception):
    """A request the API understood and will not carry out; ``extra`` adds fields (``allowed``,
    ``holder``) to the JSON body."""

    def __init__(self, status_code: int, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.extra = extra


def not_found() -> Refused:
    # The same answer whether the report does not exist or belongs to another agency.
    return Refused(404, "report not found")


async def refused(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Refused)
    return JSONResponse({"detail": exc.detail, **exc.extra}, status_code=exc.status_code)
