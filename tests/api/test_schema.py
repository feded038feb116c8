"""Schemathesis against the app's own /openapi.json, logged in as a supervisor with reports in the
queue: no 5xx, and every response matches what the document promises (its default checks)."""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings

from storage.models import Priority, Role
from tests.api.conftest import Desk


def test_the_api_keeps_its_openapi_promises(app: FastAPI, desk: Desk) -> None:
    agency = desk.agency("PPA-JATENG", regions=("33",))
    desk.officer("spv", agency, Role.supervisor)
    for priority in Priority:
        desk.report(priority=priority, story="Cerita dengan nomor 0812 3456 7890.")
    headers = desk.login("spv")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]
    assert len(operations) >= 15
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def check(case: schemathesis.Case[Any]) -> None:
            case.call_and_validate(headers=headers)

        check()
