from __future__ import annotations

import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from api.settings import ConfigError, Settings, load_keys
from storage.crypto import Keys, generate_data_key, generate_secret


def settings(tmp_path: Path, **values: Any) -> Settings:
    values.setdefault("state_dir", tmp_path / "state")
    return Settings(_env_file=None, **values)


FULL = {
    "secret_key": generate_secret(),
    "pseudonym_key": generate_secret(),
    "data_keys": generate_data_key(),
}


@pytest.mark.parametrize(
    ("missing", "variable"),
    [
        ("secret_key", "LAPOR_SECRET_KEY"),
        ("pseudonym_key", "LAPOR_PSEUDONYM_KEY"),
        ("data_keys", "LAPOR_DATA_KEYS"),
    ],
)
def test_production_refuses_to_start_without_each_key(
    tmp_path: Path, missing: str, variable: str
) -> None:
    values = {name: value for name, value in FULL.items() if name != missing}
    with pytest.raises(ConfigError, match=variable) as raised:
        load_keys(settings(tmp_path, env="production", **values))
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "state").exists()


def test_production_with_keys_uses_them(tmp_path: Path) -> None:
    keys = load_keys(settings(tmp_path, env="production", **FULL))
    assert keys.secret_key == FULL["secret_key"]
    assert keys.data_keys == [FULL["data_keys"]]


def test_data_keys_are_comma_separated_first_one_current(tmp_path: Path) -> None:
    first, second = generate_data_key(), generate_data_key()
    keys = load_keys(settings(tmp_path, **{**FULL, "data_keys": f"{first}, {second}"}))
    assert keys.data_keys == [first, second]


def test_development_generates_keys_once_into_a_private_file(tmp_path: Path) -> None:
    first = load_keys(settings(tmp_path))
    path = tmp_path / "state" / "keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    again = load_keys(settings(tmp_path))
    assert again == first


def test_development_key_generation_races_to_one_set(tmp_path: Path) -> None:
    results: list[Keys] = []

    def load() -> None:
        results.append(load_keys(settings(tmp_path)))

    threads = [threading.Thread(target=load) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 12
    assert all(result == results[0] for result in results)
    assert [p.name for p in (tmp_path / "state").iterdir()] == ["keys.json"]


def test_explicit_keys_win_over_generated_ones(tmp_path: Path) -> None:
    generated = load_keys(settings(tmp_path))
    explicit = load_keys(settings(tmp_path, pseudonym_key=FULL["pseudonym_key"]))
    assert explicit.pseudonym_key == FULL["pseudonym_key"]
    assert explicit.secret_key == generated.secret_key


def test_a_damaged_key_file_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "keys.json").write_text("{not json")
    with pytest.raises(ConfigError, match="keys"):
        load_keys(settings(tmp_path))


def test_telegram_webhook_mode_needs_its_secret(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LAPOR_TELEGRAM_WEBHOOK_SECRET"):
        load_keys(settings(tmp_path, telegram_token="123:abc", telegram_mode="webhook"))


def test_whatsapp_needs_its_other_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LAPOR_WHATSAPP_VERIFY_TOKEN"):
        load_keys(settings(tmp_path, whatsapp_app_secret="s3cret"))


def test_an_empty_token_means_off(tmp_path: Path) -> None:
    assert not settings(tmp_path, telegram_token="").telegram_enabled
    assert settings(tmp_path, telegram_token="123:abc").telegram_enabled


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LAPOR_DATABASE_URL", "postgresql+psycopg://u@db/lapor")
    monkeypatch.setenv("LAPOR_DEFAULT_LOCALE", "en")
    monkeypatch.setenv("LAPOR_TELEGRAM_MODE", "webhook")
    loaded = settings(tmp_path)
    assert loaded.database_url == "postgresql+psycopg://u@db/lapor"
    assert loaded.default_locale == "en"
    assert loaded.telegram_mode == "webhook"


def test_secrets_do_not_show_in_the_settings_repr(tmp_path: Path) -> None:
    shown = repr(settings(tmp_path, **FULL))
    assert FULL["secret_key"] not in shown
    assert FULL["data_keys"] not in shown


def test_whatsapp_templates_are_names_meta_accepts_and_empty_means_none(tmp_path: Path) -> None:
    given = settings(tmp_path, whatsapp_template="lapor_update", whatsapp_template_backup="")
    assert (given.whatsapp_template, given.whatsapp_template_backup) == ("lapor_update", None)
    assert given.whatsapp_template_lang == "id"
    for values in (
        {"whatsapp_template": "Ada pembaruan"},
        {"whatsapp_template_backup": "lapor-update"},
        {"whatsapp_template_lang": "indonesia"},
    ):
        with pytest.raises(ValidationError):
            settings(tmp_path, **values)
