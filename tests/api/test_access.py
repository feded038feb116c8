"""Access rules checked over the app's own route table (as its OpenAPI document publishes it), so a
new route is covered without a new test: no token → 401 everywhere under /api/v1; another agency's
report → 404 on every report route; routes documented with a 403 refuse an officer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi import FastAPI

from api.main import API_PREFIX
from api.security import LOGIN_PATH
from storage.models import Role
from tests.api.conftest import Desk

BODIES: dict[str, dict[str, Any]] = {
    "transitions": {"action": "start"},
    "notes": {"text": "catatan"},
    "referrals": {"service": "legal", "organisation": "LBH"},
    "messages": {"text": "halo"},
    "assign": {"officer": "budi"},
    "case": {"victim_age_band": "13-17"},
}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    found = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(API_PREFIX)
        for method in operations
    ]
    assert len(found) >= 12, found  # the table really was read
    return found


def needs_supervisor(app: FastAPI, method: str, path: str) -> bool:
    refusal = app.openapi()["paths"][path][method.lower()]["responses"].get("403", {})
    return bool(refusal.get("description") == "your role may not do this")


def call(desk: Desk, method: str, path: str, headers: dict[str, str] | None = None) -> Any:
    body = BODIES.get(path.rsplit("/", 1)[-1])
    # Any other path parameter (an attachment's id) gets a well-formed id that exists nowhere.
    filled = re.sub(r"\{[a-z_]+\}", "00000000-0000-0000-0000-000000000000", path)
    return desk.client.request(method, filled, json=body, headers=headers)


def test_every_api_route_but_login_refuses_a_request_without_a_token(
    app: FastAPI, desk: Desk
) -> None:
    checked = 0
    for method, path in api_routes(app):
        if path == LOGIN_PATH:
            continue
        response = call(desk, method, path.replace("{report_id}", "00000000-0000-0000-0000-0"))
        assert response.status_code == 401, (method, path, response.text)
        assert response.json() == {"detail": "not logged in, or the session has expired"}
        checked += 1
    assert checked >= 11


@pytest.fixture
def two_agencies(desk: Desk) -> tuple[str, dict[str, str], dict[str, str]]:
    """A report of agency B; an officer and a supervisor of agency A."""
    a = desk.agency("PPA-A", regions=("33",))
    b = desk.agency("PPA-B", regions=("35",))
    desk.officer("sari", a)
    desk.officer("spv.a", a, Role.supervisor)
    desk.officer("budi", b)
    report_id = desk.report(province="35")
    return report_id, desk.login("sari"), desk.login("spv.a")


def test_every_report_route_answers_404_for_another_agencys_report(
    app: FastAPI, desk: Desk, two_agencies: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    report_id, officer, chief = two_agencies
    report_routes = [(m, p) for m, p in api_routes(app) if "{report_id}" in p]
    assert len(report_routes) >= 9
    for method, path in report_routes:
        headers = chief if needs_supervisor(app, method, path) else officer
        response = call(desk, method, path.replace("{report_id}", report_id), headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json() == {"detail": "report not found"}
    # Nothing was changed or revealed on the way.
    budi = desk.login("budi")
    seen = desk.client.get(f"/api/v1/reports/{report_id}", headers=budi).json()
    assert seen["status"] == "new"
    timeline = desk.client.get(f"/api/v1/reports/{report_id}/timeline", headers=budi).json()
    assert timeline["items"] == []


def test_supervisor_routes_answer_403_to_an_officer(
    app: FastAPI, desk: Desk, two_agencies: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    _, officer, _ = two_agencies
    own = desk.report(province="33")
    guarded = [(m, p) for m, p in api_routes(app) if needs_supervisor(app, m, p)]
    assert len(guarded) >= 2
    for method, path in guarded:
        response = call(desk, method, path.replace("{report_id}", own), officer)
        assert response.status_code == 403, (method, path)
