"""`aimant` (or `python -m bot`): run the bot, check the content, or back up the database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from bot.app import ALLOWED_UPDATES, App, build_application
from bot.content.catalogue import Catalogue, CatalogueError, load_catalogue
from bot.content.summary import content_summary
from bot.content.texts import Texts, TextsError, english_count, load_texts
from bot.logs import configure_logging
from bot.ops.checks import (
    backup,
    content_warnings,
    database_check,
    database_problem,
    features_summary,
    postgres_problem,
    smtp_problem,
    telegram_problem,
)
from bot.ops.guard import (
    FATAL_EXIT_SECONDS,
    SOLO_EXIT_SECONDS,
    Guard,
    StartupError,
    disk_problem,
    stop_self,
    take_lock,
)
from bot.preview.chat import preview
from bot.services import Services
from bot.settings import Settings, SettingsError, load_settings
from bot.telegram.intake import describe
from bot.telegram.polling import run_shared_polling
from bot.telegram.webhook import run_webhook

GO_LIVE = """
No bot token is configured, so the bot is not connected to Telegram yet. Your content above is
valid. To go live:
  1. In Telegram, talk to @BotFather, send /newbot and copy the token it gives you.
  2. Copy .env.example to .env and set BOT_TOKEN=<that token>.
  3. Set OWNER_IDS to your own Telegram user id (ask @userinfobot) to use the owner commands.
  4. Run this command again: the bot starts with long polling.
Optional, in .env too: SMTP_HOST and SMTP_SENDER to verify emails with a mailed code (double
opt-in); CRM_WEBHOOK_URLS and CRM_WEBHOOK_SECRET to send every lead to your CRM, signed.
"""
log = logging.getLogger("aimant")


def fail(message: str) -> int:
    """A clear message on stderr, no traceback; the exit code for errors."""
    print(message, file=sys.stderr)
    return 2


def refuse(line: str) -> int:
    """The bot cannot start: why, as one ERROR line among the log's; the exit code for errors."""
    log.error("%s", line)
    return 2


def load_content(settings: Settings) -> tuple[Catalogue, Texts] | str:
    """The validated catalogue and texts, or the error message naming file and field."""
    try:
        return (
            load_catalogue(settings.catalogue_path),
            load_texts(settings.texts_dir, settings.default_language),
        )
    except (CatalogueError, TextsError) as exc:
        return str(exc)


def summarised(settings: Settings) -> tuple[Catalogue, Texts] | int:
    """The content, its summary printed; or the exit code, the error printed instead."""
    content = load_content(settings)
    if isinstance(content, str):
        return fail(content)
    print(content_summary(*content))
    return content


def check(settings: Settings, database: bool = True) -> int:
    """`aimant check`: validate the content and print a readable summary (exit 2 on errors);
    with DATABASE_URL, whether the database can be used (`database`: not for the preview)."""
    content = summarised(settings)
    if isinstance(content, int):
        return content
    catalogue, texts = content
    print(features_summary(settings))
    reached = asyncio.run(database_check(settings)) if database else None
    if reached is not None:
        ok, line = reached
        if not ok:
            return fail(line)
        print(line)
    warnings = content_warnings(catalogue, texts)
    for warning in warnings:
        print(f"warning: {warning}")
    print(f"OK: no errors, {english_count(len(warnings), 'warning')}.")
    return 0


def run(settings: Settings) -> int:
    """Run the bot with long polling or a webhook (or explain how to go live)."""
    content = summarised(settings)
    if isinstance(content, int):
        return content
    catalogue, texts = content
    if settings.bot_token is None:
        print(GO_LIVE)
        if sys.stdin.isatty():  # someone at a terminal: let them try the bot right away
            print("Meanwhile, try your bot here (it is `aimant preview`):\n")
            logging.getLogger().setLevel(logging.WARNING)
            return preview(settings)
        print("Try your bot offline meanwhile: .venv/bin/aimant preview")
        return 0
    if settings.database_url is None:
        lock = take_lock(settings.database_path)  # first: no second process on the file
        if isinstance(lock, str):
            return refuse(lock)
        problem = database_problem(settings.database_path) or disk_problem(settings.database_path)
    else:  # PostgreSQL: reachable; several processes may share it (shared mode)
        problem = asyncio.run(postgres_problem(settings))
    problem = problem or asyncio.run(telegram_problem(settings))
    if problem:
        return refuse(problem)
    print(features_summary(settings))
    mail = asyncio.run(smtp_problem(settings)) if settings.double_optin else None
    if mail:  # not fatal: codes wait in the outbox and are retried
        log.warning("%s; verification mails will wait and be retried", mail)
    svc = Services(settings, catalogue, texts)
    app = build_application(svc)
    # PostgreSQL: shared mode, one elected leader polls and sends (bot/telegram/cluster.py).
    app.bot_data["shared"] = settings.database_url is not None
    guard: Guard = app.bot_data["guard"]
    guard.stop = stop_self  # a fatal fault (database gone, disk full) stops as SIGTERM does
    # ... and the process is gone soon, however it goes (PostgreSQL: before another process
    # could take over what it still sends)
    guard.exit_after = SOLO_EXIT_SECONDS if settings.database_url is None else FATAL_EXIT_SECONDS
    try:
        serve(settings, svc, app)
    except StartupError as exc:  # the store could not be opened: one line, exit code 2
        return refuse(str(exc))
    except Exception as exc:
        if guard.fatal is None:
            raise
        # The stop after a fatal fault failed too (its database gone): the line said why.
        log.warning("the stop after the fatal fault ended early (%s)", describe(exc))
    return 2 if guard.fatal else 0


def serve(settings: Settings, svc: Services, app: App) -> None:
    """Run until stopped: a webhook, or polling (shared mode: when elected)."""
    if settings.webhook_url or settings.database_url is not None:
        if settings.webhook_url:
            asyncio.run(run_webhook(app, svc))
        else:
            log.info("starting with long polling (when elected) against %s", settings.bot_api_url)
            asyncio.run(run_shared_polling(app, svc))
        # Stopped cleanly: a second SIGTERM (a supervisor repeating itself) must not turn the
        # exit code into a kill while the interpreter winds down.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        return
    log.info("starting with long polling against %s", settings.bot_api_url)
    app.run_polling(allowed_updates=ALLOWED_UPDATES)  # stops cleanly on SIGINT and SIGTERM
    log.info("stopped")


def db_copy(settings: Settings) -> int:
    """`aimant db copy`: the SQLite database into an empty PostgreSQL one, every row checked."""
    if settings.database_url is None:
        return fail("set DATABASE_URL to the (empty) PostgreSQL database to copy into")
    lock = take_lock(settings.database_path)  # the bot must not write meanwhile
    if isinstance(lock, str):
        return fail(lock)
    print(f"copying {settings.database_path} into {settings.database_label()}")
    from bot.ops.dbcopy import CopyError, copy_sqlite_to_postgres  # asyncpg: PostgreSQL only

    try:
        asyncio.run(
            copy_sqlite_to_postgres(
                settings.database_path, settings.database_url.get_secret_value()
            )
        )
    except CopyError as exc:
        return fail(f"nothing copied: {exc}")
    except Exception as exc:  # the server unreachable, a refused login...: one line, no URL
        return fail(f"nothing copied: {type(exc).__name__}: {exc}")
    finally:
        os.close(lock)  # released: the bot may start now
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(prog="aimant", description=__doc__)
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("run", help="run the bot (the default)")
    commands.add_parser("check", help="validate settings and content, print a summary")
    trying = commands.add_parser("preview", help="chat with the bot in the terminal, offline")
    trying.add_argument("--database", type=Path, help="keep the preview's data in this file")
    saving = commands.add_parser("backup", help="a consistent copy of the live database")
    saving.add_argument("path", type=Path, help="where to write the copy (a file or a folder)")
    database = commands.add_parser("db", help="database tools (PostgreSQL)")
    tools = database.add_subparsers(dest="db_command", required=True)
    tools.add_parser(
        "copy", help="copy every row of DATABASE_PATH (SQLite) into DATABASE_URL (empty PostgreSQL)"
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        return fail(str(exc))
    secrets = (
        settings.bot_token,
        settings.webhook_secret,
        settings.smtp_password,
        settings.crm_webhook_secret,
        settings.database_url,
    )
    hidden = [s.get_secret_value() for s in secrets if s]
    password = settings.database_password()
    configure_logging(settings.log_level, [*hidden, *([password] if password else [])])
    if args.command == "check":
        return check(settings)
    if args.command == "preview":
        logging.getLogger().setLevel(logging.WARNING)  # keep the conversation readable
        if check(settings, database=False):  # the preview never uses DATABASE_URL
            return 2
        lock = take_lock(args.database) if args.database else None  # never beside a live bot
        if isinstance(lock, str):
            return fail(lock)
        return preview(settings, args.database)
    if args.command == "db":
        return db_copy(settings)
    if args.command == "backup":
        if not settings.database_path.exists():
            return fail(f"no database at {settings.database_path} (setting DATABASE_PATH)")
        try:
            size = backup(settings.database_path, args.path)
        except Exception as exc:
            return fail(f"backup failed: {exc}")
        print(f"backed up {settings.database_path} to {args.path} ({size:,} bytes)")
        return 0
    return run(settings)


if __name__ == "__main__":
    sys.exit(main())
