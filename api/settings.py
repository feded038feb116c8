"""Process settings from the environment (prefix ``LAPOR_``) and ``.env``.

Settings are built once, by the CLI or the app factory, and handed down; nothing reads the
environment at import time. Keys live here only long enough to become a
:class:`storage.crypto.Keys`.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.alerts import SmtpServer
from storage.crypto import Keys, generate_data_key, generate_secret

log = logging.getLogger("lapor.settings")

KEY_FILE_NAME = "keys.json"
# WhatsApp template names: lower-case letters, digits and underscores.
TEMPLATE_NAME = r"^[a-z0-9_]{1,512}$"


class Environment(StrEnum):
    development = "development"
    production = "production"


class TelegramMode(StrEnum):
    polling = "polling"
    webhook = "webhook"


class Locale(StrEnum):
    id = "id"
    en = "en"


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming the variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LAPOR_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Environment.development
    database_url: str = "sqlite:///./lapor.db"
    state_dir: Path = Path(".lapor")
    secret_key: SecretStr | None = None
    pseudonym_key: SecretStr | None = None
    data_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    telegram_token: SecretStr | None = None
    telegram_mode: TelegramMode = TelegramMode.polling
    telegram_webhook_secret: SecretStr | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    telegram_chat_seconds: float = Field(default=1.0, ge=0)
    telegram_rate: float = Field(default=30, gt=0)

    whatsapp_app_secret: SecretStr | None = None
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_access_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    whatsapp_api_url: str = "https://graph.facebook.com/v23.0"
    whatsapp_rate: float = Field(default=80, gt=0)
    # The approved templates that tell a reporter outside the 24-hour window that a message
    # waits (names as in WhatsApp Manager), and their language; unset = messages just wait.
    whatsapp_template: str | None = Field(default=None, pattern=TEMPLATE_NAME)
    whatsapp_template_backup: str | None = Field(default=None, pattern=TEMPLATE_NAME)
    whatsapp_template_lang: str = Field(default="id", pattern=r"^[a-z]{2,3}(_[A-Z]{2})?$")
    send_poll_seconds: float = Field(default=0.5, gt=0)
    send_threads: int = Field(default=8, gt=0, le=64)
    send_lease_seconds: float = Field(default=120, gt=0)
    evidence_max_mb: int = Field(default=20, gt=0)

    default_locale: Locale = Locale.id
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1024 * 1024, gt=0)
    access_token_minutes: int = Field(default=30, gt=0)
    login_failures: int = Field(default=5, gt=0)
    login_window_minutes: int = Field(default=15, gt=0)
    supervisor_webhook_url: str | None = None

    # Officer alerts (CONTRACT §6): e-mail, and the officers' own Telegram bot.
    public_url: str = "http://127.0.0.1:8000"
    smtp_url: SecretStr | None = None
    smtp_from: str | None = None
    officer_telegram_token: SecretStr | None = None
    officer_telegram_mode: TelegramMode = TelegramMode.polling
    officer_telegram_webhook_secret: SecretStr | None = None

    emergency_contacts_file: Path | None = None
    conversation_ttl_hours: float = Field(default=24, gt=0)
    reply_address_days: int = Field(default=90, gt=0)
    receipt_failures: int = Field(default=5, gt=0)
    receipt_window_minutes: int = Field(default=15, gt=0)
    receipt_failures_per_hour: int = Field(default=1000, gt=0)
    reports_per_hour: int = Field(default=5, gt=0)
    burst_messages: int = Field(default=30, gt=0)
    burst_seconds: float = Field(default=60, gt=0)
    sla_critical_minutes: int = Field(default=15, gt=0)
    sla_high_minutes: int = Field(default=120, gt=0)
    sla_normal_minutes: int = Field(default=1440, gt=0)
    sweep_seconds: float = Field(default=60, gt=0)
    referral_pending_hours: float = Field(default=48, gt=0)
    console_idle_minutes: int = Field(default=30, gt=0)
    console_session_hours: int = Field(default=12, gt=0)
    purge_hours: float = Field(default=24, gt=0)
    retention_delivery_days: float = Field(default=7, gt=0)
    retention_closed_report_days: float = Field(default=90, gt=0)
    retention_audit_days: float = Field(default=365, gt=0)
    retention_rate_event_hours: float = Field(default=24, ge=1)

    @field_validator("data_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "secret_key",
        "pseudonym_key",
        "telegram_token",
        "telegram_webhook_secret",
        "whatsapp_app_secret",
        "whatsapp_verify_token",
        "whatsapp_access_token",
        "whatsapp_template",
        "whatsapp_template_backup",
        "smtp_url",
        "officer_telegram_token",
        "officer_telegram_webhook_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `LAPOR_TELEGRAM_TOKEN=` in a .env file means "off", not "a token that is empty".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.production

    @property
    def telegram_enabled(self) -> bool:
        return self.telegram_token is not None

    @property
    def whatsapp_enabled(self) -> bool:
        return self.whatsapp_app_secret is not None

    @property
    def officer_telegram_enabled(self) -> bool:
        return self.officer_telegram_token is not None


def check_settings(settings: Settings) -> None:
    """Refuse configurations that would run unsafely; raise :class:`ConfigError` with one line."""
    if (
        settings.telegram_enabled
        and settings.telegram_mode is TelegramMode.webhook
        and settings.telegram_webhook_secret is None
    ):
        raise ConfigError(
            "LAPOR_TELEGRAM_WEBHOOK_SECRET is required when LAPOR_TELEGRAM_MODE=webhook"
        )
    if (
        settings.officer_telegram_enabled
        and settings.officer_telegram_mode is TelegramMode.webhook
        and settings.officer_telegram_webhook_secret is None
    ):
        raise ConfigError(
            "LAPOR_OFFICER_TELEGRAM_WEBHOOK_SECRET is required when "
            "LAPOR_OFFICER_TELEGRAM_MODE=webhook"
        )
    if (
        settings.officer_telegram_token is not None
        and settings.telegram_token is not None
        and settings.officer_telegram_token.get_secret_value()
        == settings.telegram_token.get_secret_value()
    ):
        # A reporter must never be able to reach an officer's chat, nor the other way round.
        raise ConfigError(
            "LAPOR_OFFICER_TELEGRAM_TOKEN must be another bot than LAPOR_TELEGRAM_TOKEN"
        )
    if settings.smtp_url is not None:
        _check_smtp(settings)
    if settings.whatsapp_enabled:
        for name in ("whatsapp_verify_token", "whatsapp_access_token", "whatsapp_phone_number_id"):
            if getattr(settings, name) is None:
                raise ConfigError(
                    f"LAPOR_{name.upper()} is required when LAPOR_WHATSAPP_APP_SECRET is set"
                )
    if not settings.is_production:
        return
    for name in ("secret_key", "pseudonym_key"):
        if getattr(settings, name) is None:
            raise ConfigError(f"LAPOR_{name.upper()} is required when LAPOR_ENV=production")
    if not settings.data_keys:
        raise ConfigError("LAPOR_DATA_KEYS is required when LAPOR_ENV=production")


def _check_smtp(settings: Settings) -> None:
    assert settings.smtp_url is not None
    try:
        SmtpServer.from_url(settings.smtp_url.get_secret_value())
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if not settings.smtp_from or "@" not in settings.smtp_from:
        raise ConfigError(
            "LAPOR_SMTP_FROM (an e-mail address) is required when LAPOR_SMTP_URL is set"
        )


def load_keys(settings: Settings) -> Keys:
    """The process's keys: from the environment, or (development only) from the state dir.

    In development, missing keys are generated once into ``<state_dir>/keys.json`` (mode 0600)
    so that a restart can still read what was written before it.
    """
    check_settings(settings)
    stored: dict[str, object] = {}
    if not settings.is_production and (
        settings.secret_key is None or settings.pseudonym_key is None or not settings.data_keys
    ):
        stored = _dev_keys(settings.state_dir)
    secret_key = (
        settings.secret_key.get_secret_value() if settings.secret_key else str(stored["secret_key"])
    )
    pseudonym_key = (
        settings.pseudonym_key.get_secret_value()
        if settings.pseudonym_key
        else str(stored["pseudonym_key"])
    )
    data_keys = (
        [key.get_secret_value() for key in settings.data_keys]
        if settings.data_keys
        else [str(key) for key in _as_list(stored["data_keys"])]
    )
    try:
        return Keys(secret_key=secret_key, pseudonym_key=pseudonym_key, data_keys=data_keys)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def _as_list(value: object) -> list[object]:
    if not isinstance(value, list):
        raise ConfigError("the development key file is damaged; delete it to generate new keys")
    return value


def _dev_keys(state_dir: Path) -> dict[str, object]:
    path = state_dir / KEY_FILE_NAME
    if not path.exists():
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        fresh = {
            "secret_key": generate_secret(),
            "pseudonym_key": generate_secret(),
            "data_keys": [generate_data_key()],
        }
        tmp = state_dir / f".{KEY_FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(fresh, handle)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            # link() fails if another process won the race; then both use the winner's keys.
            os.link(tmp, path)
            log.warning(
                "generated development keys",
                extra={"event": "dev_keys_generated", "path": str(path)},
            )
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    try:
        loaded = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot read development keys from {path}: {error}") from None
    if not isinstance(loaded, dict) or not {"secret_key", "pseudonym_key", "data_keys"} <= set(
        loaded
    ):
        raise ConfigError(f"the development key file {path} is damaged")
    return loaded
