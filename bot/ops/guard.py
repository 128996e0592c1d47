"""Guards around the database: one process per SQLite file, the file still there, room on
disk; on PostgreSQL, the connection still up.

Each fault ends in one clear line and exit code 2 instead of silent loss: a second process on
the same database refuses to start; a database deleted or replaced while the bot runs, or a disk
nearly full, or a PostgreSQL server gone (stopped, restarted), stops the bot (SIGTERM to
itself, so polling and webhook mode stop as usual; a supervisor starts it again). On
PostgreSQL the fault also drops every database connection at once (statements waiting on a
server that does not answer fail then), and however the stop goes, the process is gone with
exit code 2 FATAL_EXIT_SECONDS after the line at the latest (SQLite: SOLO_EXIT_SECONDS).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from telegram import Bot

from bot.ops.checks import advised
from bot.owner.alerts import notify_owners
from bot.services import Services
from bot.settings import Settings
from bot.store import DatabaseGone, Store
from bot.store.core import SchemaError, SessionError, checkpoint_file
from bot.telegram.intake import describe

log = logging.getLogger(__name__)

LOW_DISK_BYTES = 8 * 1024 * 1024  # under this, SQLite may fail mid-write: stop while it can't
CHECK_SECONDS = 2.0  # how often a running bot looks at its database file and its disk
# After a fatal fault's line, the stop (sends under way finish, within Telegram's timeouts) has
# this long; then the process exits with code 2 anyway (a stop stuck on a dead database).
FATAL_EXIT_SECONDS = 10.0
# SQLite: one process, nobody takes over: its stop may finish sends in flight (PTB's longest
# timeout, a document's 20 s write) before the same hard exit.
SOLO_EXIT_SECONDS = 60.0


def lock_path(database: Path) -> Path:
    """The lock file beside the database."""
    return database.with_name(database.name + ".lock")


def take_lock(database: Path) -> int | str:
    """Lock the database for this process (held until it ends): the lock's fd, or why not."""
    path = lock_path(database)
    where = f"the database {database} (setting DATABASE_PATH)"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if not path.parent.is_dir():
            return (
                f"cannot use {where}: its folder {path.parent} does not exist and cannot be"
                f" created ({exc.strerror}): create it, or set DATABASE_PATH to a place this"
                " user can write"
            )
        return (
            f"cannot use {where}: cannot create {path.name} in {path.parent} ({exc.strerror});"
            " the folder must be writable (SQLite writes its -wal and -shm files there too)"
        )
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = _read_pid(fd)
        os.close(fd)
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            return f"cannot lock {where}: {exc.strerror}"
        return (
            f"another Aimant process{f' (pid {holder})' if holder else ''} is already running"
            f" on {where}: stop it first; only one process may use a database"
        )
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for the next one's message
    return fd


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode().strip()
    except (OSError, UnicodeDecodeError):
        return ""


def free_bytes(path: Path) -> int:
    """Free space (for this user) on the filesystem holding `path`."""
    return shutil.disk_usage(path if path.is_dir() else path.parent).free


def disk_problem(database: Path) -> str | None:
    """At start: the low-disk line if free space stays short after folding the WAL, or None."""
    free = free_bytes(database)
    if free < LOW_DISK_BYTES and database.exists():
        with suppress(Exception):  # best effort: a WAL left at its peak size is room to win
            checkpoint_file(database)
        free = free_bytes(database)
    return low_disk_line(database, free) if free < LOW_DISK_BYTES else None


def low_disk_line(database: Path, free: int) -> str:
    """The one line for a nearly full disk."""
    return (
        f"only {free / 1e6:.1f} MB free on the disk of {database} (setting DATABASE_PATH), under"
        f" {LOW_DISK_BYTES / 1e6:.0f} MB: stopping before SQLite runs out of room (nothing is"
        " lost: Telegram keeps what is not confirmed); free some space, then start again"
    )


def rescue_name(database: Path, now: float | None = None) -> Path:
    """Where the content of a database deleted under the bot is saved."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return database.with_name(f"{database.name}.rescued-{stamp}")


def stop_self() -> None:
    """Stop the way SIGTERM does (polling and webhook mode both handle it)."""
    os.kill(os.getpid(), signal.SIGTERM)


class StartupError(Exception):
    """The store could not be opened at start: its one line (exit code 2, no traceback)."""


def start_problem(settings: Settings, exc: Exception) -> str | None:
    """The one line for a store that could not be opened or joined at start (a schema newer
    or not Aimant's, too many connections, the server gone meanwhile), or None: a bug, whose
    traceback says more. Never names the password."""
    if settings.database_url is not None:
        where = f"cannot use the database {settings.database_label()} (setting DATABASE_URL)"
    else:
        where = f"cannot use the database {settings.database_path} (setting DATABASE_PATH)"
    if isinstance(exc, SchemaError | DatabaseGone | SessionError):
        why = str(exc)
    elif isinstance(exc, sqlite3.Error):
        why = describe(exc)
    elif settings.database_url is None:
        return None
    else:
        found = _postgres_problem(exc)
        if found is None:
            return None
        why = found
    password = settings.database_password()
    if password:
        why = why.replace(password, "***")  # a driver's message never echoes it, to be sure
    return f"{where}: {why}"


def _postgres_problem(exc: Exception) -> str | None:
    import asyncpg  # only with PostgreSQL

    from bot.store.pg import CONNECT_SECONDS

    if isinstance(exc, TimeoutError):
        return f"no answer within {CONNECT_SECONDS:g} s (TimeoutError): is the server up?"
    if isinstance(exc, OSError | asyncpg.PostgresError | asyncpg.InterfaceError):
        return advised(describe(exc).rstrip(": "), exc)
    return None


def exit_now(after: float) -> None:
    """The hard deadline: one line, the logs flushed, and exit code 2 at once (no clean-up
    runs: the database's state is the server's; what is not confirmed to Telegram comes back)."""
    line = (
        f"still stopping {after:g} s after the fatal fault: exiting now (exit code 2) without"
        " waiting for the rest"
    )
    record = logging.LogRecord(log.name, logging.WARNING, __file__, 0, line, None, None)
    for handler in logging.getLogger().handlers:
        # Not through the handler's lock: the stuck thread may hold it.
        with suppress(Exception):
            os.write(sys.stderr.fileno(), (handler.format(record) + "\n").encode())
            break
    for stream in (sys.stdout, sys.stderr):
        with suppress(Exception):
            stream.flush()
    os._exit(2)


class Aftermath(logging.Filter):
    """After a fatal fault, what fails because the database is gone is logged as one WARNING
    line (the CRITICAL line said why; a traceback each would bury it): an ERROR whose exception,
    or message, is DatabaseGone. Anything else is logged as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not logging.ERROR <= record.levelno < logging.CRITICAL:
            return True
        exc = record.exc_info[1] if record.exc_info else None
        if not (isinstance(exc, DatabaseGone) or "DatabaseGone" in record.getMessage()):
            return True
        message = record.getMessage()
        if exc is not None:
            message = f"{message} ({describe(exc)})"
        record.msg, record.args = message, None
        record.exc_info, record.exc_text = None, None
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class Guard:
    """Remembers the first fatal problem and stops the process once."""

    def __init__(self, stop: Callable[[], None] | None = None) -> None:
        self.stop = stop  # None: only log and remember (tests running the app in-process)
        self.fatal: str | None = None
        # Run first on a fatal fault, each once (PostgreSQL: drop the connections at once).
        self.on_fatal: list[Callable[[], None]] = []
        # `aimant run`: exit with code 2 this long after the line, whatever still runs.
        self.exit_after: float | None = None

    def fail(self, line: str) -> None:
        """Log the one CRITICAL line and stop; later calls are ignored."""
        if self.fatal is not None:
            return
        self.fatal = line
        log.critical("%s", line)
        if self.exit_after is not None:  # `aimant run`: this process's own logs
            for handler in logging.getLogger().handlers:
                handler.addFilter(Aftermath())
            deadline = threading.Timer(self.exit_after, exit_now, (self.exit_after,))
            deadline.daemon = True
            deadline.start()
        for hook in self.on_fatal:
            try:
                hook()
            except Exception as exc:  # the stop goes on: the deadline is armed
                log.debug("on a fatal fault: %s", describe(exc))
        if self.stop is not None:
            self.stop()


async def watch(svc: Services, bot: Bot, guard: Guard) -> None:
    """The periodic look: the database file still there, room on its disk (PostgreSQL: the
    connection still up), updates set aside."""
    store = svc.store
    if guard.fatal is not None:
        return
    if store.url is not None:
        # The server stopped or restarted: every statement would fail from now on, each
        # update logged as an error; one clear line and exit 2 instead (Restart=always).
        lost = await store.connection_problem()
        if lost:
            guard.fail(lost)
            return
    elif store.path is not None:
        problem = await _file_problem(store, store.path)
        if problem:
            guard.fail(problem)
            return
    else:
        return  # an in-memory database (tests): nothing to watch
    count = await store.aside.to_report()
    if count:
        notice = svc.texts.count(svc.owner_lang, "owner_updates_set_aside", count)
        await notify_owners(bot, svc, notice)


async def _file_problem(store: Store, path: Path) -> str | None:
    """The SQLite file deleted or replaced (its content rescued), or its disk nearly full."""
    problem = store.file_problem()
    if problem:
        return await _rescue(store, path, problem)
    free = free_bytes(path)
    if free < LOW_DISK_BYTES:
        with suppress(Exception):  # the WAL's room back, and everything in the main file
            await store.checkpoint()
        return low_disk_line(path, free_bytes(path))
    return None


async def _rescue(store: Store, path: Path, problem: str) -> str:
    """Save what the open (unlinked) file holds beside it; the CRITICAL line to log."""
    target = rescue_name(path)
    stop = f"{problem}: stopping so that nothing more is written into a file no one can open"
    try:
        await store.copy_to(target)
    except Exception as exc:
        return f"{stop}; no copy of its content could be saved ({describe(exc)})"
    return f"{stop}; its content is saved in {target}: move it to {path} to go on with it"
