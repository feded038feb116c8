"""Schemathesis against the app's own /openapi.json, served on loopback and logged in as a
supervisor with reports in the queue: every check and every phase (examples, coverage, fuzzing,
stateful), so an undocumented status, a wrong ``Allow`` or a 5xx cannot come back unseen."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI

from storage.models import Priority, Role
from tests.api.conftest import Desk
from tests.fakes import serve

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")


def test_the_api_keeps_every_openapi_promise(app: FastAPI, desk: Desk, tmp_path: Path) -> None:
    agency = desk.agency("PPA-JATENG", regions=("33",))
    desk.officer("spv", agency, Role.supervisor)
    reports = [
        desk.report(priority=priority, story="Cerita dengan nomor 0812 3456 7890.")
        for priority in Priority
    ]
    headers = desk.login("spv")
    config = tmp_path / "schemathesis.toml"
    # A report the supervisor may see, so the per-report operations get past their 404.
    config.write_text(
        "\n".join(
            [
                "[headers]",
                *(f"{json.dumps(name)} = {json.dumps(value)}" for name, value in headers.items()),
                "[parameters]",
                f"report_id = {json.dumps(reports[0])}",
                # CONTRACT §7: a referral the schema allows is refused with 422 when the agency
                # does not offer the service (or is the caller's own, or is not known).
                "[[operations]]",
                'include-path = "/api/v1/reports/{report_id}/referrals"',
                'include-method = "POST"',
                "checks.positive_data_acceptance.expected-statuses = "
                '["2xx", "401", "403", "404", "409", "422"]',
            ]
        ),
        encoding="utf-8",
    )
    with serve(app) as base_url:
        run = subprocess.run(  # noqa: S603
            [
                str(SCHEMATHESIS),
                "--config-file",
                str(config),
                "run",
                f"{base_url}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--max-examples",
                "5",
                "--seed",
                "20261201",
                "--workers",
                "1",
                "--no-color",
                "--generation-database",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=900,
            cwd=tmp_path,  # its report folder
            check=False,
        )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Selected: " in run.stdout
