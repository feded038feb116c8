"""The ``lapor`` command (CONTRACT §1).

Exit codes: 0 on success, 2 on bad usage (Typer/Click), 1 on failure with one line on stderr.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import sqlalchemy as sa
import typer
import uvicorn
from sqlmodel import select
from telegram import Update
from telegram.error import TelegramError

from api.logs import configure_logging
from api.runtime import apply_retention, build_runtime, retention_policy, telegram_bot
from api.settings import ConfigError, Locale, Settings, TelegramMode, load_keys
from bot.console import ConsoleSession, console_identity, run_console
from flows.loader import FlowDefinitionError
from flows.safety import ContactsError
from storage import officer_contacts
from storage.agencies import AgencyError, create_agency, get_agency
from storage.crypto import Crypto, generate_data_key, generate_secret
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Officer, Role, Service, utcnow
from storage.officers import OfficerError, create_officer, find_officer, hash_password

app = typer.Typer(
    name="lapor",
    help="Lapor Aman: anonymous reporting of violence against women and children.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="Production keys.", no_args_is_help=True)
agency_app = typer.Typer(help="Agencies, their regions and services.", no_args_is_help=True)
officer_app = typer.Typer(help="Officer accounts.", no_args_is_help=True)
telegram_app = typer.Typer(help="The Telegram bot.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(agency_app, name="agency")
app.add_typer(officer_app, name="officer")
app.add_typer(telegram_app, name="telegram")

log = logging.getLogger("lapor.cli")

DEMO_AGENCY = "DEMO"
DEMO_OFFICERS = (("demo", Role.officer), ("demo-supervisor", Role.supervisor))


class CommandError(Exception):
    """An expected failure: printed as one line, exit code 1."""


def fail(message: str) -> NoReturn:
    typer.echo(f"lapor: {message}", err=True)
    raise typer.Exit(1)


@contextmanager
def expected_errors() -> Iterator[None]:
    """Turn the failures an operator can cause into one line and exit code 1."""
    try:
        yield
    except (
        CommandError,
        ConfigError,
        AgencyError,
        OfficerError,
        FlowDefinitionError,
        ContactsError,
    ) as error:
        fail(str(error))
    except sa.exc.OperationalError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        fail(f"cannot use the database: {reason}")
    except sa.exc.SQLAlchemyError as error:
        fail(f"database error: {error.__class__.__name__}")
    except OSError as error:
        # A path that cannot be made or opened (the database's folder is a file, no permission).
        fail(f"cannot use {error.filename or 'a file'}: {error.strerror or type(error).__name__}")


def _settings() -> Settings:
    with expected_errors():
        return Settings()


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1, max=64)] = 1,
    demo: Annotated[
        bool, typer.Option("--demo", help="Create a demo agency and officers (not in production).")
    ] = False,
) -> None:
    """Migrate, then serve webhooks, the triage API and the console."""
    settings = _settings()
    configure_logging(settings.log_level)
    with expected_errors():
        polling = settings.telegram_enabled and settings.telegram_mode is TelegramMode.polling
        if workers > 1 and polling:
            # Each worker would poll, and Telegram answers a second poller with 409 Conflict.
            raise CommandError(
                "Telegram polling runs in one process: use --workers 1, "
                "or LAPOR_TELEGRAM_MODE=webhook with several workers"
            )
        officers_polling = (
            settings.officer_telegram_enabled
            and settings.officer_telegram_mode is TelegramMode.polling
        )
        if workers > 1 and officers_polling:
            raise CommandError(
                "the officers' bot polls in one process: use --workers 1, "
                "or LAPOR_OFFICER_TELEGRAM_MODE=webhook with several workers"
            )
        load_keys(settings)  # generates development keys once, before any worker starts
        if demo and settings.is_production:
            raise CommandError("--demo is refused when LAPOR_ENV=production")
        upgrade(settings.database_url)
        if demo:
            _seed_demo(settings)
            typer.echo(f"Serving on http://{host}:{port} (officers' console: /console)")
    if workers > 1:
        _prepare_multiprocess_metrics(settings)
    log.info("serving", extra={"event": "serving", "host": host, "port": port, "workers": workers})
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )


def _prepare_multiprocess_metrics(settings: Settings) -> None:
    directory = settings.state_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _seed_demo(settings: Settings) -> None:
    """A national demo agency and two officers whose passwords are new at every start."""
    database = Database(settings.database_url)
    credentials: list[tuple[str, str, Role]] = []
    try:
        with database.unit() as session:
            agency = get_agency(DEMO_AGENCY, session=session) or create_agency(
                DEMO_AGENCY,
                "UPTD PPA Demo (nasional)",
                regions=[],
                national=True,
                session=session,
            )
            for username, role in DEMO_OFFICERS:
                password = secrets.token_urlsafe(12)
                officer = session.exec(select(Officer).where(Officer.username == username)).first()
                if officer is None:
                    create_officer(username, password, agency=agency, role=role, session=session)
                else:
                    officer.password_hash = hash_password(password)
                    session.add(officer)
                credentials.append((username, password, role))
    finally:
        database.dispose()
    typer.echo("Demo agency DEMO (national). Officers, with passwords new at this start:")
    for username, password, role in credentials:
        typer.echo(f"  {username:<16} {password}   ({role})")


@app.command()
def chat(
    lang: Annotated[
        Locale | None, typer.Option("--lang", help="Language of a new conversation: id or en.")
    ] = None,
) -> None:
    """Talk to the bot in this terminal: the real flow, into the same database."""
    settings = _settings()
    configure_logging("WARNING")
    with expected_errors():
        upgrade(settings.database_url)
        runtime = build_runtime(settings, locale=lang.value if lang else None)
        session = ConsoleSession(runtime.inbox, console_identity(settings.state_dir))
    try:
        run_console(session)
    finally:
        runtime.database.dispose()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Upgrade the database schema to the newest revision."""
    settings = _settings()
    configure_logging(settings.log_level)
    with expected_errors():
        upgrade(settings.database_url)
    typer.echo("database is up to date")


@app.command()
def purge(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would go; delete nothing.")
    ] = False,
) -> None:
    """Apply retention now: forget what is older than the LAPOR_RETENTION_* settings allow."""
    settings = _settings()
    configure_logging(settings.log_level)
    with expected_errors():
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        try:
            counts = apply_retention(
                database, retention_policy(settings), utcnow(), dry_run=dry_run
            )
        finally:
            database.dispose()
    typer.echo("would go (dry run):" if dry_run else "purged:")
    for name, count in counts.items():
        typer.echo(f"  {name.replace('_', ' '):<16} {count}")


@telegram_app.command("set-webhook")
def telegram_set_webhook(
    url: Annotated[str, typer.Argument(help="https://YOUR-HOST/webhooks/telegram")],
) -> None:
    """Tell Telegram to deliver updates to URL, with the webhook secret."""
    settings = _settings()
    if settings.telegram_token is None:
        fail("LAPOR_TELEGRAM_TOKEN is not set")
    if settings.telegram_webhook_secret is None:
        fail("LAPOR_TELEGRAM_WEBHOOK_SECRET is not set")
    secret = settings.telegram_webhook_secret.get_secret_value()

    async def set_webhook() -> None:
        async with telegram_bot(settings) as bot:
            await bot.set_webhook(url, secret_token=secret, allowed_updates=Update.ALL_TYPES)

    try:
        asyncio.run(set_webhook())
    except TelegramError as error:
        fail(f"Telegram refused: {error.message}")
    typer.echo(f"Telegram now delivers updates to {url}")


@keys_app.command("generate")
def keys_generate() -> None:
    """Print fresh production keys as environment lines (keep them secret, back them up)."""
    typer.echo(f"LAPOR_SECRET_KEY={generate_secret()}")
    typer.echo(f"LAPOR_PSEUDONYM_KEY={generate_secret()}")
    typer.echo(f"LAPOR_DATA_KEYS={generate_data_key()}")


@agency_app.command("add")
def agency_add(
    code: Annotated[str, typer.Argument(help="Short code, e.g. UPTD-PPA-LAMPUNG.")],
    name: Annotated[str, typer.Option("--name", help="Full name.")],
    region: Annotated[
        list[str] | None,
        typer.Option("--region", help="Kemendagri code it covers (18 or 18.11); repeatable."),
    ] = None,
    national: Annotated[
        bool, typer.Option("--national", help="Receives reports no regional agency covers.")
    ] = False,
    service: Annotated[
        list[Service] | None,
        typer.Option("--service", help="A service it takes referrals for; repeatable."),
    ] = None,
) -> None:
    """Add an agency, the regions it covers and the services it offers to referrals."""
    settings = _settings()
    with expected_errors():
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        try:
            with database.unit() as session:
                agency = create_agency(
                    code,
                    name,
                    regions=region or [],
                    national=national,
                    services=service or [],
                    session=session,
                )
                typer.echo(f"agency {agency.code} added")
        finally:
            database.dispose()


@officer_app.command("add")
def officer_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    agency: Annotated[str, typer.Option("--agency", help="Agency code.")],
    role: Annotated[Role, typer.Option("--role", help="officer, supervisor or admin.")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    email: Annotated[
        str | None, typer.Option("--email", help="Where alert e-mails go (optional).")
    ] = None,
) -> None:
    """Add an officer account. Without --password-stdin a password is asked for, or made up."""
    settings = _settings()
    _check_email(email)
    generated = False
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password, generated = secrets.token_urlsafe(12), True
    with expected_errors():
        upgrade(settings.database_url)
        database = Database(settings.database_url)
        try:
            with database.unit() as session:
                found = get_agency(agency, session=session)
                if found is None:
                    raise CommandError(f"no agency {agency.strip().upper()}")
                officer = create_officer(
                    username, password, agency=found, role=role, session=session
                )
                if email:
                    assert officer.id is not None
                    cipher = Crypto.from_keys(load_keys(settings)).cipher
                    officer_contacts.set_email(
                        officer.id, cipher.encrypt_text(email.strip()), utcnow(), session=session
                    )
                typer.echo(f"officer {officer.username} added to {found.code} as {role}")
        finally:
            database.dispose()
    if generated:
        typer.echo(f"password: {password}")


def _check_email(email: str | None) -> None:
    if email and not officer_contacts.valid_email(email.strip()):
        fail("--email is not an e-mail address")


@officer_app.command("set")
def officer_set(
    username: Annotated[str, typer.Argument(help="Login name.")],
    email: Annotated[
        str | None,
        typer.Option("--email", help='Where alert e-mails go; "" stops e-mail alerts.'),
    ] = None,
    on_duty: Annotated[
        bool | None,
        typer.Option("--on-duty/--off-duty", help="On duty (piket): alerted about urgent reports."),
    ] = None,
) -> None:
    """Change an officer's alert address or duty status."""
    settings = _settings()
    _check_email(email)
    if email is None and on_duty is None:
        fail("nothing to change: give --email, --on-duty or --off-duty")
    with expected_errors():
        upgrade(settings.database_url)
        cipher = Crypto.from_keys(load_keys(settings)).cipher
        database = Database(settings.database_url)
        try:
            with database.unit() as session:
                officer = find_officer(username, session=session)
                if officer is None or officer.id is None:
                    raise CommandError(f"no officer {username.strip().lower()}")
                now = utcnow()
                changed = []
                if email is not None:
                    address = email.strip()
                    officer_contacts.set_email(
                        officer.id,
                        cipher.encrypt_text(address) if address else None,
                        now,
                        session=session,
                    )
                    changed.append("e-mail set" if address else "e-mail removed")
                if on_duty is not None:
                    officer_contacts.set_on_duty(officer.id, on_duty, now, session=session)
                    changed.append("on duty" if on_duty else "off duty")
                typer.echo(f"officer {officer.username}: {', '.join(changed)}")
        finally:
            database.dispose()


def main() -> None:
    app()
