"""The store cannot be opened at start, with `python -m bot` run as an operator runs it: on both
backends the process exits with code 2 and one ERROR line saying what is wrong, naming the
database (never the password) and what to do; no traceback, and nothing half-migrated."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, cast

import asyncpg
import pytest

from bot.store import Store
from bot.store.core import MIGRATION_LOCK, SchemaError
from bot.store.migrations import MIGRATIONS
from bot.store.pg import PgConnection
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD, PgServer, free_port
from tests.test_e2e_kill import TOKEN
from tests.test_faults import aimant, as_plain_user

OURS = len(MIGRATIONS)
WRONG = "Wr0ng-pass-Word"  # a wrong password is never shown either


@pytest.fixture(scope="module")
def api() -> Iterator[str]:
    """The fake Bot API's URL: the checks before the store ask Telegram who the bot is."""
    with FakeTelegramServer(FakeTelegram()) as server:
        yield server.base_url


def refused(workdir: Path, api: str, prefix: tuple[str, ...] = (), **env: str) -> str:
    """Start the bot; it must refuse: exit 2 and one ERROR line (returned), nothing but INFO
    lines beside it, no traceback, no password."""
    done = aimant(workdir, prefix=prefix, BOT_TOKEN=TOKEN, BOT_API_URL=api, LOG_LEVEL="INFO", **env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    errors = [line for line in lines if " ERROR " in line or " CRITICAL " in line]
    assert len(errors) == 1, done.stderr
    assert all(" INFO " in line for line in lines if line not in errors), done.stderr
    shown = done.stdout + done.stderr
    assert "Traceback" not in shown and PASSWORD not in shown and WRONG not in shown
    return errors[0]


# --- PostgreSQL ------------------------------------------------------------------------------


def tables(server: PgServer, name: str) -> list[str]:
    """The tables of a database, sorted."""
    found = server.psql("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", name)
    return sorted(found.split())


def unreachable(server: PgServer, name: str) -> str:
    return f"postgresql://aimant:{PASSWORD}@127.0.0.1:{free_port()}/{name}"


def wrong_password(server: PgServer, name: str) -> str:
    return server.url(name).replace(PASSWORD, WRONG)


def missing_database(server: PgServer, name: str) -> str:
    return server.url(f"{name}_missing")


def newer_schema(server: PgServer, name: str) -> str:
    server.psql(
        "CREATE TABLE aimant_schema (version BIGINT NOT NULL);"
        f" INSERT INTO aimant_schema VALUES ({OURS + 1})",
        name,
    )
    return server.url(name)


PG_CASES: dict[str, tuple[Callable[[PgServer, str], str], tuple[str, ...]]] = {
    "unreachable": (unreachable, ("ConnectionRefusedError", "is PostgreSQL running")),
    "wrong password": (
        wrong_password,
        ("password authentication failed", "check the user name and the password"),
    ),
    "no such database": (missing_database, ("does not exist", "create it (createdb")),
    "newer schema": (newer_schema, (f"its schema ({OURS + 1}) is newer", "upgrade Aimant")),
}


@pytest.mark.parametrize("case", PG_CASES)
def test_postgres_that_cannot_be_used_is_one_line_with_what_to_do(
    case: str, tmp_path: Path, api: str, pg_server: PgServer, pg_url: str
) -> None:
    name = pg_url.rsplit("/", 1)[1]
    make_url, words = PG_CASES[case]
    url = make_url(pg_server, name)
    line = refused(tmp_path, api, DATABASE_URL=url)
    label = url.replace(f":{PASSWORD}@", "@").replace(f":{WRONG}@", "@")
    assert f"cannot use the database {label} (setting DATABASE_URL): " in line, line
    for word in words:
        assert word in line, line
    if case == "newer schema":  # left as it was
        assert tables(pg_server, name) == ["aimant_schema"]
        assert pg_server.psql("SELECT version FROM aimant_schema", name).strip() == str(OURS + 1)


@pytest.mark.parametrize("limit", [0, 1])
def test_too_many_connections_is_one_line_with_what_to_do(
    limit: int, tmp_path: Path, api: str, pg_server: PgServer
) -> None:
    """0: refused by the check before the store; 1: the check passes, then the store's or the
    cluster's connection is refused (each process needs several)."""
    name = pg_server.create_database()
    role = f"{name}_limited"
    pg_server.psql(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}' CONNECTION LIMIT {limit}")
    pg_server.psql(f"GRANT CREATE, USAGE ON SCHEMA public TO {role}", name)
    try:
        url = pg_server.url(name).replace("//aimant:", f"//{role}:")
        line = refused(tmp_path, api, DATABASE_URL=url)
    finally:
        pg_server.drop_database(name)
        pg_server.psql(f"DROP ROLE {role}")
    assert f"postgresql://{role}@127.0.0.1:{pg_server.port}/{name} (setting DATABASE_URL)" in line
    assert "TooManyConnectionsError: too many connections" in line, line
    assert "raise the role's CONNECTION LIMIT or the server's max_connections" in line, line


def test_another_applications_table_shows_the_real_error_and_leaves_nothing(
    tmp_path: Path, api: str, pg_server: PgServer, pg_url: str
) -> None:
    """DuplicateTable in the migration: the error itself (not 'current transaction is
    aborted', which an unlock inside the failed transaction said), nothing of Aimant's created;
    once the table is gone the next start migrates."""
    name = pg_url.rsplit("/", 1)[1]
    pg_server.psql("CREATE TABLE leads (id int)", name)
    line = refused(tmp_path, api, DATABASE_URL=pg_url)
    assert 'DuplicateTableError: relation "leads" already exists' in line, line
    assert "another application's" in line and "aborted" not in line, line
    assert tables(pg_server, name) == ["leads"]
    pg_server.psql("DROP TABLE leads", name)

    async def retry() -> int:
        store = await Store.open_postgres(pg_url)
        try:
            return await store.schema_version()
        finally:
            await store.close()

    assert asyncio.run(retry()) == OURS


async def test_a_refused_migration_rolls_back_before_it_unlocks(pg_url: str) -> None:
    """The unlock runs after the ROLLBACK: it does not fail (hiding why), and the lock is free
    for the next process while this connection is still open."""
    other = await asyncpg.connect(pg_url)
    db = await PgConnection.connect(pg_url)
    try:
        await other.execute("CREATE TABLE leads (id int)")
        store = Store(cast(Any, db), time.time)
        store.dialect, store.url = "postgresql", pg_url
        with pytest.raises(SchemaError, match='DuplicateTableError: relation "leads"'):
            await store._migrate()
        assert not db.in_transaction
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", MIGRATION_LOCK)
    finally:
        await db.close()
        await other.close()


# --- SQLite ----------------------------------------------------------------------------------


def not_a_database(folder: Path) -> Path:
    path = folder / "aimant.sqlite3"
    path.write_bytes(b"not SQLite, another program's notes\n" * 50)
    return path


def newer_sqlite_schema(folder: Path) -> Path:
    path = folder / "aimant.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute("CREATE TABLE theirs (a)")
        db.execute(f"PRAGMA user_version = {OURS + 1}")
        db.commit()
    return path


def in_a_folder_that_cannot_be_created(folder: Path) -> Path:
    (folder / "locked").mkdir(mode=0o555)
    return folder / "locked" / "missing" / "aimant.sqlite3"


def in_a_folder_not_writable(folder: Path) -> Path:
    (folder / "locked").mkdir(mode=0o555)
    return folder / "locked" / "aimant.sqlite3"


SQLITE_CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...]]] = {
    "folder cannot be created": (
        in_a_folder_that_cannot_be_created,
        ("does not exist and cannot be created", "create it, or set DATABASE_PATH"),
    ),
    "folder not writable": (
        in_a_folder_not_writable,
        ("cannot create aimant.sqlite3.lock", "the folder must be writable"),
    ),
    "not a database": (not_a_database, ("file is not a database", "set DATABASE_PATH")),
    "newer schema": (
        newer_sqlite_schema,
        (f"its schema ({OURS + 1}) is newer than this Aimant's ({OURS})", "upgrade Aimant"),
    ),
}


@pytest.mark.parametrize("case", SQLITE_CASES)
def test_a_sqlite_database_that_cannot_be_used_is_one_line_with_what_to_do(
    case: str, tmp_path: Path, api: str
) -> None:
    make_path, words = SQLITE_CASES[case]
    path = make_path(tmp_path)
    before = path.read_bytes() if path.exists() else None
    # Not as root (its power to write anywhere); "locked" stays empty: removed as it is.
    line = refused(tmp_path, api, as_plain_user(), DATABASE_PATH=str(path))
    assert f"cannot use the database {path} (setting DATABASE_PATH): " in line, line
    for word in words:
        assert word in line, line
    if case == "not a database":
        assert path.read_bytes() == before  # left as it was
    if case == "newer schema":
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA user_version").fetchone() == (OURS + 1,)
            names = db.execute("SELECT name FROM sqlite_master").fetchall()
        assert names == [("theirs",)]  # no Aimant table added
