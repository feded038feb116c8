from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from storage.crypto import Keys
from storage.db import Database


def make_settings(tmp_path: Path, keys: Keys, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "secret_key": keys.secret_key,
        "pseudonym_key": keys.pseudonym_key,
        "data_keys": ",".join(keys.data_keys),
        "state_dir": tmp_path / "state",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def app(tmp_path: Path, keys: Keys, database: Database) -> FastAPI:
    settings = make_settings(tmp_path, keys, database_url=database.url.render_as_string(False))
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
