"""The ``lapor`` command as an operator runs it: a real process, real exit codes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import func, select

from storage.agencies import directory, services_of
from storage.audit import record
from storage.crypto import Crypto, Keys
from storage.db import Database
from storage.models import AuditEvent, OfficerContact, Service

LAPOR = str(Path(sys.executable).parent / "lapor")


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if not key.startswith("LAPOR_")}
    environment.update(env or {})
    return subprocess.run(  # noqa: S603
        [LAPOR, *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_without_keys_exits_1_with_one_line(tmp_path: Path) -> None:
    result = run(["serve"], tmp_path, {"LAPOR_ENV": "production"})
    assert result.returncode == 1
    assert result.stderr.strip() == "lapor: LAPOR_SECRET_KEY is required when LAPOR_ENV=production"
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "lapor.db").exists()


def test_telegram_polling_with_several_workers_is_refused_with_one_line(tmp_path: Path) -> None:
    result = run(
        ["serve", "--workers", "2"],
        tmp_path,
        {"LAPOR_TELEGRAM_TOKEN": "123456:TEST-token", "LAPOR_TELEGRAM_MODE": "polling"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "lapor: Telegram polling runs in one process: use --workers 1, "
        "or LAPOR_TELEGRAM_MODE=webhook with several workers"
    )


def test_a_database_path_that_cannot_be_made_exits_1_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    url = f"sqlite:///{tmp_path}/a-file/lapor.db"
    result = run(["db", "upgrade"], tmp_path, {"LAPOR_DATABASE_URL": url})
    assert result.returncode == 1
    assert result.stderr.strip() == f"lapor: cannot use {tmp_path}/a-file: File exists"
    assert "Traceback" not in result.stderr


def test_keys_generate_prints_usable_production_keys(tmp_path: Path) -> None:
    result = run(["keys", "generate"], tmp_path)
    assert result.returncode == 0
    values = dict(line.split("=", 1) for line in result.stdout.strip().splitlines())
    assert set(values) == {"LAPOR_SECRET_KEY", "LAPOR_PSEUDONYM_KEY", "LAPOR_DATA_KEYS"}
    Keys(
        secret_key=values["LAPOR_SECRET_KEY"],
        pseudonym_key=values["LAPOR_PSEUDONYM_KEY"],
        data_keys=values["LAPOR_DATA_KEYS"].split(","),
    )
    upgraded = run(["db", "upgrade"], tmp_path, {"LAPOR_ENV": "production", **values})
    assert upgraded.returncode == 0, upgraded.stderr


def test_agency_and_officer_accounts(tmp_path: Path) -> None:
    added = run(
        ["agency", "add", "uptd-ppa-lampung", "--name", "UPTD PPA Lampung", "--region", "18"],
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "agency UPTD-PPA-LAMPUNG added"
    again = run(["agency", "add", "UPTD-PPA-LAMPUNG", "--name", "x"], tmp_path)
    assert again.returncode == 1
    assert again.stderr.strip() == "lapor: agency UPTD-PPA-LAMPUNG already exists"
    bad_region = run(["agency", "add", "X", "--name", "x", "--region", "Lampung"], tmp_path)
    assert bad_region.returncode == 1
    assert "Kemendagri" in bad_region.stderr

    made_up = run(
        ["officer", "add", "siti", "--agency", "uptd-ppa-lampung", "--role", "officer"],
        tmp_path,
    )
    # No --password-stdin and no terminal to ask on: a password is made up and shown once.
    assert made_up.returncode == 0, made_up.stderr
    lines = made_up.stdout.strip().splitlines()
    assert lines[0] == "officer siti added to UPTD-PPA-LAMPUNG as officer"
    assert lines[1].startswith("password: ")
    assert len(lines[1].removeprefix("password: ")) >= 10
    duplicate = run(
        [
            "officer",
            "add",
            "Siti",
            "--agency",
            "uptd-ppa-lampung",
            "--role",
            "officer",
            "--password-stdin",
        ],
        tmp_path,
        stdin="kata-sandi-panjang\n",
    )
    assert duplicate.returncode == 1
    assert duplicate.stderr.strip() == "lapor: officer siti already exists"
    officer = run(
        [
            "officer",
            "add",
            "Rina",
            "--agency",
            "uptd-ppa-lampung",
            "--role",
            "supervisor",
            "--password-stdin",
        ],
        tmp_path,
        stdin="kata-sandi-panjang\n",
    )
    assert officer.returncode == 0, officer.stderr
    assert officer.stdout.strip() == "officer rina added to UPTD-PPA-LAMPUNG as supervisor"
    short = run(
        [
            "officer",
            "add",
            "budi",
            "--agency",
            "uptd-ppa-lampung",
            "--role",
            "officer",
            "--password-stdin",
        ],
        tmp_path,
        stdin="pendek\n",
    )
    assert short.returncode == 1
    assert "at least 10 characters" in short.stderr
    no_agency = run(
        ["officer", "add", "budi", "--agency", "nope", "--role", "officer", "--password-stdin"],
        tmp_path,
        stdin="kata-sandi-panjang\n",
    )
    assert no_agency.stderr.strip() == "lapor: no agency NOPE"


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    assert run(["officer", "add", "x", "--agency", "A", "--role", "boss"], tmp_path).returncode == 2
    assert run(["no-such-command"], tmp_path).returncode == 2
    assert run(["serve", "--port", "0"], tmp_path).returncode == 2


@pytest.mark.parametrize(
    "command",
    [
        ["--help"],
        ["serve", "--help"],
        ["db", "upgrade", "--help"],
        ["keys", "generate", "--help"],
        ["agency", "add", "--help"],
        ["officer", "add", "--help"],
        ["purge", "--help"],
    ],
)
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = run(command, tmp_path)
    assert result.returncode == 0
    assert "Usage" in result.stdout


def test_purge_dry_run_counts_and_deletes_nothing_then_purge_deletes(tmp_path: Path) -> None:
    assert run(["db", "upgrade"], tmp_path).returncode == 0
    database = Database(f"sqlite:///{tmp_path / 'lapor.db'}")
    try:
        with database.unit() as session:
            record("login.failed", datetime.now(UTC) - timedelta(days=400), session=session)
        dry = run(["purge", "--dry-run"], tmp_path)
        assert dry.returncode == 0, dry.stderr
        assert "would go" in dry.stdout
        assert "audit events     1" in dry.stdout
        assert "drafts           0" in dry.stdout
        assert audit_events(database) == 1
        purged = run(["purge"], tmp_path, {"LAPOR_RETENTION_AUDIT_DAYS": "500"})
        assert purged.returncode == 0, purged.stderr
        assert "audit events     0" in purged.stdout  # the setting kept it
        purged = run(["purge"], tmp_path)
        assert purged.returncode == 0, purged.stderr
        assert "audit events     1" in purged.stdout
        assert audit_events(database) == 0
    finally:
        database.dispose()


def test_purge_without_a_database_exits_1_with_one_line(tmp_path: Path) -> None:
    nobody_listens = "postgresql+psycopg://lapor:x@127.0.0.1:9/lapor?connect_timeout=5"
    result = run(["purge", "--dry-run"], tmp_path, {"LAPOR_DATABASE_URL": nobody_listens})
    assert result.returncode == 1
    assert result.stderr.startswith("lapor: cannot use the database")
    assert len(result.stderr.strip().splitlines()) == 1


def audit_events(database: Database) -> int:
    with database.unit() as session:
        return int(session.exec(select(func.count()).select_from(AuditEvent)).one())


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_serve_demo_answers_health_ready_and_metrics(tmp_path: Path) -> None:
    port = _free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")}
    process = subprocess.Popen(  # noqa: S603
        [LAPOR, "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "lapor serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz").json() == {"status": "ready", "warnings": []}
        metrics = httpx.get(f"{base}/metrics")
        assert "lapor_reports_submitted_total" in metrics.text
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises the signal it caught.
    assert process.returncode in (0, -signal.SIGTERM)
    events = [json.loads(line).get("event") for line in stderr.splitlines()]
    assert "stopped" in events
    assert "demo" in stdout
    assert "demo-supervisor" in stdout
    assert (tmp_path / "lapor.db").exists()
    assert (tmp_path / ".lapor" / "keys.json").exists()


def test_chat_files_a_report_and_resumes_after_a_restart(tmp_path: Path) -> None:
    first = run(
        ["chat"],
        tmp_path,
        stdin="halo\n1\n2\n1\n1\n2\n1\n3\n",  # … up to the category question, then Ctrl-D
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout.rstrip().endswith(">")
    assert "Apakah kekerasan ini masih terus terjadi?" in first.stdout
    resumed = run(["chat"], tmp_path, stdin="")
    # A new `lapor chat` shows where the conversation stood, not the welcome.
    assert resumed.stdout.lstrip().startswith("Apakah kekerasan ini masih terus terjadi?")
    answers = "1\n2\nlampung\nmesuji\n1\n4\nSaya dipukul.\n1\n2\n7\n1\n1\n"
    finished = run(["chat"], tmp_path, stdin=answers)
    assert "Laporanmu sudah terkirim" in finished.stdout
    receipt = finished.stdout.split("Kode laporanmu: *")[1].split("*")[0]
    checked = run(["chat"], tmp_path, stdin=f"status\n{receipt.lower()}\n")
    assert "Status laporan: *diterima, menunggu petugas*" in checked.stdout


def test_chat_in_english(tmp_path: Path) -> None:
    result = run(["chat", "--lang", "en"], tmp_path, stdin="")
    assert result.stdout.lstrip().startswith("Hello. This is Lapor Aman")


def test_officer_add_with_email_and_officer_set_change_alerts_and_duty(
    tmp_path: Path, keys: Keys
) -> None:
    env = {
        "LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.db",
        "LAPOR_SECRET_KEY": keys.secret_key,
        "LAPOR_PSEUDONYM_KEY": keys.pseudonym_key,
        "LAPOR_DATA_KEYS": ",".join(keys.data_keys),
    }
    assert run(["agency", "add", "PPA-X", "--name", "PPA X"], tmp_path, env).returncode == 0
    added = run(
        [
            "officer",
            "add",
            "sari",
            "--agency",
            "PPA-X",
            "--role",
            "officer",
            "--password-stdin",
            "--email",
            "sari@ppa.example",
        ],
        tmp_path,
        env,
        stdin="kata-sandi-yang-panjang\n",
    )
    assert added.returncode == 0, added.stderr
    bad = run(["officer", "set", "sari", "--email", "not-an-address"], tmp_path, env)
    assert (bad.returncode, bad.stderr.strip()) == (1, "lapor: --email is not an e-mail address")
    nothing = run(["officer", "set", "sari"], tmp_path, env)
    assert nothing.returncode == 1
    assert "nothing to change" in nothing.stderr
    unknown = run(["officer", "set", "nobody", "--on-duty"], tmp_path, env)
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "lapor: no officer nobody")

    database = Database(env["LAPOR_DATABASE_URL"])
    cipher = Crypto.from_keys(keys).cipher
    try:
        with database.unit() as session:
            contact = session.exec(select(OfficerContact)).one()
            assert contact.email is not None
            assert cipher.decrypt_text(contact.email) == "sari@ppa.example"
            assert contact.on_duty is False
        changed = run(
            ["officer", "set", "sari", "--email", "sari.baru@ppa.example", "--on-duty"],
            tmp_path,
            env,
        )
        assert (changed.returncode, changed.stdout.strip()) == (
            0,
            "officer sari: e-mail set, on duty",
        )
        with database.unit() as session:
            contact = session.exec(select(OfficerContact)).one()
            assert contact.email is not None
            assert cipher.decrypt_text(contact.email) == "sari.baru@ppa.example"
            assert contact.on_duty is True
        cleared = run(["officer", "set", "sari", "--email", "", "--off-duty"], tmp_path, env)
        assert cleared.stdout.strip() == "officer sari: e-mail removed, off duty"
        with database.unit() as session:
            contact = session.exec(select(OfficerContact)).one()
            assert (contact.email, contact.on_duty) == (None, False)
    finally:
        database.dispose()


def test_the_officers_bot_polling_with_several_workers_is_refused_with_one_line(
    tmp_path: Path,
) -> None:
    result = run(
        ["serve", "--workers", "2"],
        tmp_path,
        {"LAPOR_OFFICER_TELEGRAM_TOKEN": "654321:OFFICER-token"},
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "lapor: the officers' bot polls in one process: use --workers 1, "
        "or LAPOR_OFFICER_TELEGRAM_MODE=webhook with several workers"
    )


def test_an_agency_offers_the_services_named_with_service_and_an_unknown_one_is_bad_usage(
    tmp_path: Path,
) -> None:
    added = run(
        [
            "agency",
            "add",
            "DINSOS-LAMPUNG",
            "--name",
            "Dinas Sosial Lampung",
            "--region",
            "18",
            "--service",
            "rehabilitation",
            "--service",
            "psychosocial",
        ],
        tmp_path,
    )
    assert added.returncode == 0, added.stderr
    database = Database(f"sqlite:///{tmp_path / 'lapor.db'}")
    try:
        with database.unit() as session:
            found = directory(Service.rehabilitation, "18.11", session=session)
            assert [agency.code for agency, _ in found] == ["DINSOS-LAMPUNG"]
            assert services_of({found[0][0].id or 0}, session=session) == {
                found[0][0].id or 0: ["psychosocial", "rehabilitation"]
            }
    finally:
        database.dispose()
    unknown = run(["agency", "add", "X", "--name", "x", "--service", "magic"], tmp_path)
    assert unknown.returncode == 2
