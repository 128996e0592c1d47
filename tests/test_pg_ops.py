"""`aimant db copy` into a database it must not touch, a VACUUM failing after the commit, and
`aimant check`'s look at DATABASE_URL (bot.ops.checks.database_check)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import asyncpg
import pytest

from bot.__main__ import main
from bot.ops import dbcopy
from bot.ops.checks import database_check
from bot.ops.dbcopy import CopyError, copy_sqlite_to_postgres
from bot.settings import Settings
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from tests.pgserver import PASSWORD

USER = 4242


async def _source(tmp_path: Path) -> Path:
    """A small SQLite database: one lead."""
    path = tmp_path / "live.sqlite3"
    store = await Store.open(path)
    await store.leads.touch_visitor(
        USER, first_name="Ada", last_name=None, username=None, language="en", source="qr"
    )
    await store.close()
    return path


async def _objects(url: str) -> list[str]:
    """Everything in the database's schema: tables, sequences, indexes, views."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() ORDER BY 1"
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


async def _sql(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def test_another_applications_database_is_refused_and_nothing_created(
    tmp_path: Path, pg_url: str
) -> None:
    source = await _source(tmp_path)
    await _sql(pg_url, "CREATE TABLE invoices (id BIGSERIAL PRIMARY KEY, total NUMERIC)")
    before = await _objects(pg_url)
    with pytest.raises(CopyError) as info:
        await copy_sqlite_to_postgres(source, pg_url)
    assert str(info.value).startswith(
        "the PostgreSQL database is not empty: it holds another application's tables (invoices);"
        " copy into a new, empty database"
    )
    assert await _objects(pg_url) == before == ["invoices", "invoices_id_seq", "invoices_pkey"]


async def test_a_table_named_like_aimants_is_refused_clearly_and_nothing_created(
    tmp_path: Path, pg_url: str
) -> None:
    source = await _source(tmp_path)
    await _sql(pg_url, "CREATE TABLE leads (user_id BIGINT, note TEXT)")
    with pytest.raises(CopyError) as info:
        await copy_sqlite_to_postgres(source, pg_url)
    assert str(info.value).startswith(
        "the PostgreSQL database already has leads, named as Aimant's tables but not created"
        " by Aimant (it has no aimant_schema table): copy into a new, empty database"
    )
    assert await _objects(pg_url) == ["leads"]


def test_an_empty_aimant_schema_is_filled_then_a_second_copy_refused_in_one_line(
    tmp_path: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bot started once on the database left an empty schema: the copy fills it. A second
    copy into the now full database: one line, "nothing copied" said once, nothing written."""
    source = asyncio.run(_source(tmp_path))

    async def empty_schema() -> None:
        store = await Store.open_postgres(pg_url)
        await store.close()

    asyncio.run(empty_schema())
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(source))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["db", "copy"]) == 0
    assert "copied" in capsys.readouterr().out
    objects = asyncio.run(_objects(pg_url))
    assert main(["db", "copy"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("nothing copied: the PostgreSQL database is not empty (")
    assert err.count("nothing copied") == 1 and len(err.splitlines()) == 1
    assert asyncio.run(_objects(pg_url)) == objects


def test_a_vacuum_failing_after_the_commit_says_copied(
    tmp_path: Path,
    pg_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = asyncio.run(_source(tmp_path))

    async def cancelled(conn: object) -> None:
        raise asyncpg.exceptions.QueryCanceledError("canceling statement due to user request")

    monkeypatch.setattr(dbcopy, "vacuum", cancelled)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(source))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["db", "copy"]) == 0  # the rows are committed: the copy succeeded
    out = capsys.readouterr()
    assert "rows in" in out.out and "tables, in one transaction" in out.out
    assert "nothing copied" not in out.out + out.err
    assert out.err.strip() == (
        "copied; VACUUM failed: QueryCanceledError: canceling statement due to user request:"
        """ run VACUUM ANALYZE yourself (psql "$DATABASE_URL" -c 'VACUUM ANALYZE') before the"""
        " bot's busy hours"
    )

    async def lead() -> object:
        conn = await asyncpg.connect(pg_url)
        try:
            return await conn.fetchval("SELECT first_name FROM leads WHERE user_id = $1", USER)
        finally:
            await conn.close()

    assert asyncio.run(lead()) == "Ada"


# --- `aimant check` with DATABASE_URL: database_check --------------------------------------


def _settings(url: str) -> Settings:
    return Settings(database_url=url, _env_file=None)  # type: ignore[call-arg, arg-type]


async def test_check_says_an_unreachable_database_in_one_line_without_the_password() -> None:
    url = "postgresql://aimant:Zq9SECRETpw@127.0.0.1:1/aimant"
    ok, line = await database_check(_settings(url)) or (True, "")
    assert not ok and "\n" not in line
    assert line.startswith(
        "cannot use the database postgresql://aimant@127.0.0.1:1/aimant (setting DATABASE_URL): "
    )
    assert "Zq9SECRETpw" not in line
    with socket.socket() as silent:  # accepts the connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        url = f"postgresql://aimant:Zq9SECRETpw@127.0.0.1:{port}/aimant"
        started = time.monotonic()
        ok, line = await database_check(_settings(url), timeout=0.5) or (True, "")
    assert time.monotonic() - started < 3
    assert not ok and line.endswith("(setting DATABASE_URL): TimeoutError: no answer in 0.5 s")


async def test_check_says_a_refused_login_and_a_libpq_only_parameter(pg_url: str) -> None:
    wrong = pg_url.replace(PASSWORD, "not-the-password")
    ok, line = await database_check(_settings(wrong)) or (True, "")
    assert not ok and "password authentication failed" in line
    assert "not-the-password" not in line and PASSWORD not in line
    ok, line = await database_check(_settings(pg_url + "?connect_timeout=5")) or (True, "")
    assert not ok and 'unrecognized configuration parameter "connect_timeout"' in line
    assert "README, PostgreSQL" in line and PASSWORD not in line
    result = await database_check(_settings(pg_url + "?application_name=aimant-1&sslmode=prefer"))
    assert result is not None and result[0], result  # a real server setting, asyncpg's own


async def test_check_names_the_database_reached_and_its_schema_version(pg_url: str) -> None:
    settings = _settings(pg_url)
    label = settings.database_label()
    ours = len(MIGRATIONS)
    assert await database_check(settings) == (
        True,
        f"Database: {label} reached; no Aimant schema yet (this Aimant's is {ours}): created at"
        " the first start, or by `aimant db copy`",
    )
    store = await Store.open_postgres(pg_url)
    await store.close()
    assert await database_check(settings) == (
        True,
        f"Database: {label} reached; schema {ours}, this Aimant's {ours} (current)",
    )
    await _sql(pg_url, f"UPDATE aimant_schema SET version = {ours - 1}")
    result = await database_check(settings)
    assert result is not None and result[1].endswith("(migrated forward at the next start)")
    await _sql(pg_url, f"UPDATE aimant_schema SET version = {ours + 1}")
    assert await database_check(settings) == (
        False,
        f"cannot use the database {label} (setting DATABASE_URL): its schema ({ours + 1}) is"
        f" newer than this Aimant's ({ours}): the bot refuses to start; upgrade Aimant",
    )
    assert await database_check(Settings(_env_file=None)) is None  # type: ignore[call-arg]


def test_aimant_check_fails_in_one_line_on_an_unreachable_database(
    tmp_path: Path, pg_url: str
) -> None:
    """`aimant check` as an operator runs it: a wrong DATABASE_URL is an error (exit 2, one line,
    no password), a good one is named with its schema."""
    from tests.test_ops import aimant

    done = aimant(tmp_path, "check", DATABASE_URL="postgresql://aimant:Zq9SECRETpw@127.0.0.1:1/x")
    assert done.returncode == 2, done.stdout
    assert "cannot use the database postgresql://aimant@127.0.0.1:1/x" in done.stderr
    assert "Zq9SECRETpw" not in done.stderr + done.stdout and "Traceback" not in done.stderr
    assert "OK: no errors" not in done.stdout
    done = aimant(tmp_path, "check", DATABASE_URL=pg_url)
    assert done.returncode == 0, done.stderr
    assert "reached; no Aimant schema yet" in done.stdout and PASSWORD not in done.stdout
