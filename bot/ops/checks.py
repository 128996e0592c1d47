"""Operations: content warnings for `aimant check`, start-up checks, `aimant backup`."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import aiosmtplib
from telegram import Bot
from telegram.error import InvalidToken, NetworkError

from bot.content.catalogue import Catalogue
from bot.content.texts import Texts, english_count
from bot.funnel.optin import classify, tls_context
from bot.outbox.crm import host_of
from bot.settings import Settings


def content_warnings(catalogue: Catalogue, texts: Texts) -> list[str]:
    """Texts missing in a language people may use (they fall back to the default language)."""
    warnings = []
    languages = set(texts.languages)
    for magnet in catalogue.magnets:
        fields: dict[str, dict[str, str]] = {
            "title": magnet.title,
            "description": magnet.description,
            "pdf": magnet.pdf,
            "caption": magnet.caption,
        }
        if magnet.question:
            fields["question.text"] = magnet.question.text
            for answer in magnet.question.answers:
                fields[f"question.answers.{answer.id}.label"] = answer.label
        for tip in magnet.tips:
            fields[f"tips.{tip.id}.text"] = tip.text
            if tip.cta:
                fields[f"tips.{tip.id}.cta"] = tip.cta
        for field, table in fields.items():
            missing = sorted(languages - set(table))
            if missing:
                warnings.append(
                    f"magnet {magnet.id!r}, {field}: no {', '.join(missing)} text"
                    f" (people see the {texts.default} one)"
                )
    reference = set(texts.by_lang[texts.default])
    for lang, table in texts.by_lang.items():
        missing = sorted(reference - set(table))
        if missing:
            shown = ", ".join(missing[:8]) + ("..." if len(missing) > 8 else "")
            warnings.append(
                f"texts {lang}.toml: {english_count(len(missing), 'key')} missing ({shown})"
            )
    return warnings


def read_only_problem(path: Path) -> str | None:
    """Why SQLite could not write the database (the file, its -wal/-shm, the folder), or None."""
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        # Checked before SQLite opens it: it fails late (mid-start) or, immutable, with SIGBUS.
        if file.exists() and not os.access(file, os.W_OK):
            return (
                f"{file.name} is read-only for this user: make it writable (ls -l and chmod;"
                f" lsattr shows an immutable flag, chattr -i removes it)"
            )
    if not os.access(path.parent, os.W_OK | os.X_OK):
        return (
            f"its folder {path.parent} is not writable for this user (SQLite writes"
            f" {path.name}-wal and -shm there): make it writable"
        )
    return None


def database_problem(path: Path) -> str | None:
    """Why the database cannot be used (read-only, locked, not a database), or None."""
    where = f"cannot use the database {path} (setting DATABASE_PATH)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        read_only = read_only_problem(path)
        if read_only:
            return f"{where}: {read_only}"
        with closing(sqlite3.connect(path, timeout=5, isolation_level=None)) as db:
            db.execute("PRAGMA schema_version").fetchone()  # fails on a file that is not SQLite
            db.execute("BEGIN IMMEDIATE")  # fails when read-only or locked by another process
            db.execute("ROLLBACK")
    except (sqlite3.Error, OSError) as exc:
        if getattr(exc, "sqlite_errorname", None) == "SQLITE_NOTADB":
            return (
                f"{where}: {exc} (another program's file?): set DATABASE_PATH to Aimant's"
                " database, or move this file away and Aimant creates a new one there"
            )
        return f"{where}: {exc}"
    return None


TOO_MANY_CONNECTIONS = (
    "each Aimant process keeps up to 4 connections (the store, the /stats reader, two for the"
    " cluster) and one more for a moment after a /forget: raise the role's CONNECTION LIMIT or"
    " the server's max_connections"
)


def postgres_advice(exc: BaseException) -> str | None:
    """What to do about a connection PostgreSQL refused or could not make, if it is known."""
    import asyncpg  # only with PostgreSQL

    if isinstance(exc, asyncpg.TooManyConnectionsError):
        return TOO_MANY_CONNECTIONS
    if isinstance(exc, asyncpg.InvalidAuthorizationSpecificationError):  # a password too
        return (
            "check the user name and the password in DATABASE_URL (and that the server's"
            " pg_hba.conf lets this host in)"
        )
    if isinstance(exc, asyncpg.InvalidCatalogNameError):
        return (
            "create it (createdb, or CREATE DATABASE ... OWNER the user of DATABASE_URL), or"
            " correct the name at the end of DATABASE_URL"
        )
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        return (
            "is PostgreSQL running and listening there? check the host and the port in DATABASE_URL"
        )
    return None


def advised(why: str, exc: BaseException) -> str:
    """A PostgreSQL error's line, what to do after it if known."""
    advice = postgres_advice(exc)
    return f"{why}; {advice}" if advice else why


def _why(settings: Settings, exc: BaseException, timeout: float) -> str:
    """A driver's exception as one line, never with the password in it."""
    if isinstance(exc, TimeoutError):
        return f"TimeoutError: no answer in {timeout:g} s"
    why = " ".join(str(exc).split())
    password = settings.database_password()
    if password:
        why = why.replace(password, "***")  # a driver's message never echoes it, to be sure
    if "unrecognized configuration parameter" in why:
        why += (
            " (a ?parameter of DATABASE_URL that asyncpg does not take itself is sent to the"
            " server as a setting: README, PostgreSQL)"
        )
    return advised(f"{type(exc).__name__}: {why}".rstrip(": "), exc)


async def postgres_problem(settings: Settings) -> str | None:
    """Why DATABASE_URL cannot be used (unreachable, refused login, not answering), or None.
    A connection and `SELECT 1` only: several processes share one database, so one already
    running is no problem. Never names the password."""
    assert settings.database_url is not None
    where = f"cannot use the database {settings.database_label()} (setting DATABASE_URL)"
    try:
        import asyncpg  # only with PostgreSQL
    except ImportError:
        return f"{where}: PostgreSQL needs the asyncpg driver: pip install asyncpg"

    try:
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=10)
        try:
            await asyncio.wait_for(conn.fetchval("SELECT 1"), 10)
        finally:
            await conn.close(timeout=5)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return f"{where}: {_why(settings, exc, 10)}"
    return None


async def _schema_version(conn: Any) -> int | None:
    """The version in aimant_schema (as the store reads it), or None: no Aimant schema."""
    if not await conn.fetchval("SELECT to_regclass('aimant_schema') IS NOT NULL"):
        return None
    version = await conn.fetchval("SELECT version FROM aimant_schema")
    return int(version) if version is not None else 0


async def database_check(settings: Settings, timeout: float = 5.0) -> tuple[bool, str] | None:
    """`aimant check` with DATABASE_URL: whether the bot could use the database, and one line
    saying so: which database was reached and its schema version against this Aimant's, or
    why not (unreachable, refused login, a newer schema). None without DATABASE_URL. Each
    step (connecting, the query) is bounded by `timeout`; the password is never named."""
    if settings.database_url is None:
        return None
    from bot.store.migrations import MIGRATIONS

    label = settings.database_label()
    where = f"cannot use the database {label} (setting DATABASE_URL)"
    ours = len(MIGRATIONS)
    try:
        import asyncpg  # only with PostgreSQL
    except ImportError:
        return False, f"{where}: PostgreSQL needs the asyncpg driver: pip install asyncpg"

    try:
        conn = await asyncpg.connect(settings.database_url.get_secret_value(), timeout=timeout)
        try:
            version = await asyncio.wait_for(_schema_version(conn), timeout)
        finally:
            await conn.close(timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        return False, f"{where}: {_why(settings, exc, timeout)}"
    if version is None:
        return True, (
            f"Database: {label} reached; no Aimant schema yet (this Aimant's is {ours}): created"
            " at the first start, or by `aimant db copy`"
        )
    theirs = version
    if theirs > ours:
        return False, (
            f"{where}: its schema ({theirs}) is newer than this Aimant's ({ours}): the bot"
            " refuses to start; upgrade Aimant"
        )
    state = "current" if theirs == ours else "migrated forward at the next start"
    return True, f"Database: {label} reached; schema {theirs}, this Aimant's {ours} ({state})"


async def telegram_problem(settings: Settings, attempts: int = 3, pause: float = 1.0) -> str | None:
    """Ask Telegram who we are, retrying network errors; why it failed, or None."""
    assert settings.bot_token is not None
    for attempt in range(1, attempts + 1):
        bot = Bot(
            settings.bot_token.get_secret_value(),
            base_url=settings.bot_api_url,
            base_file_url=settings.file_url,
        )
        try:
            async with bot:
                await bot.get_me()
            return None
        except InvalidToken:
            return (
                "Telegram refused BOT_TOKEN: check it with @BotFather (/mybots, API Token) and"
                " set it again in .env"
            )
        except NetworkError as exc:
            if attempt == attempts:
                return (
                    f"cannot reach the Bot API at {settings.bot_api_url} (setting BOT_API_URL)"
                    f" after {attempts} attempts: {type(exc).__name__}"
                )
            await asyncio.sleep(pause * attempt)
    return None


def features_summary(settings: Settings) -> str:
    """The optional features as configured: double opt-in and webhooks."""
    if settings.double_optin:
        pdf = "waits for the code" if settings.optin_pdf_waits else "goes at once"
        optin = (
            f"Double opt-in: on ({settings.smtp_host}:{settings.smtp_port_or_default},"
            f" {settings.smtp_security}; the PDF {pdf}; the mail carries:"
            f" {settings.optin_mail_magnet})"
        )
    else:
        optin = "Double opt-in: off (set SMTP_HOST and SMTP_SENDER to verify emails by code)"
    urls = settings.crm_webhook_urls
    hooks = (
        f"Webhooks: {english_count(len(urls), 'URL')}: {', '.join(host_of(u) for u in urls)}"
        if urls
        else "Webhooks: off (set CRM_WEBHOOK_URLS and CRM_WEBHOOK_SECRET to send leads to a CRM)"
    )
    return f"{optin}\n{hooks}"


async def smtp_problem(settings: Settings) -> str | None:
    """Connect, STARTTLS or TLS as set, log in, quit: why mail cannot go out, or None."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    where = f"{settings.smtp_host}:{settings.smtp_port_or_default}"
    try:
        async with aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port_or_default,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            tls_context=tls_context(settings.smtp_ca_file),
            timeout=settings.smtp_timeout,
        ) as smtp:
            if settings.smtp_user:
                await smtp.login(settings.smtp_user, password or "")
    except Exception as exc:  # every failure becomes one readable line
        return f"mail server {where} (SMTP_HOST): {classify(exc)[1]}"
    return None


def backup(source: Path, target: Path) -> int:
    """A consistent copy of the live database (SQLite's online backup); returns its size."""
    if target.exists() and target.is_dir():
        target = target / source.name
    target.parent.mkdir(parents=True, exist_ok=True)
    # Page by page under SQLite's locking: writers may go on; the copy is one consistent state.
    with (
        closing(sqlite3.connect(source, timeout=30)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    return target.stat().st_size
