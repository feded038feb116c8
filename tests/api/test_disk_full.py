"""A full disk under SQLite: the webhook answers 503 (the platform sends the message again), and
intake resumes by itself once there is room. Needs root to mount a small tmpfs."""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest
from fastapi.testclient import TestClient
from sqlmodel import func, select

from storage.crypto import Keys
from storage.db import Database
from storage.models import Inbound
from tests.api.test_faults import delivery
from tests.api.test_whatsapp_webhook import whatsapp_app


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB file system of the test's own."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(  # noqa: S603
        ["/bin/mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["/bin/umount", "-l", str(mount_point)], check=False)  # noqa: S603


def fill(directory: Path) -> Path:
    """Take every free byte of ``directory``'s file system; the file that holds them."""
    filler = directory / "filler"
    block = b"\0" * 65536
    with filler.open("wb", buffering=0) as out:
        while _written(out, block):
            pass
    return filler


def _written(out: BinaryIO, block: bytes) -> bool:
    try:
        out.write(block)
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        return False
    return True


def test_a_full_disk_answers_503_and_intake_resumes_when_there_is_room(
    tmp_path: Path, keys: Keys, sqlite_template: Path, small_disk: Path
) -> None:
    path = small_disk / "lapor.db"
    shutil.copyfile(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    app = whatsapp_app(tmp_path, keys, database)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            first, second = delivery(1), delivery(2)
            answer = client.post("/webhooks/whatsapp", content=first[0], headers=first[1])
            assert answer.status_code == 200

            filler = fill(small_disk)
            refused = client.post("/webhooks/whatsapp", content=second[0], headers=second[1])
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "2"
            assert "Traceback" not in refused.text

            filler.unlink()
            retried = client.post("/webhooks/whatsapp", content=second[0], headers=second[1])
            assert retried.status_code == 200
        with database.unit() as session:
            assert session.exec(select(func.count()).select_from(Inbound)).one() == 2
    finally:
        database.dispose()
