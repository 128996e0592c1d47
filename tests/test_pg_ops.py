"""`aimant db copy` into a database it must not touch, and a VACUUM failing after the commit."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from bot.__main__ import main
from bot.ops import dbcopy
from bot.ops.dbcopy import CopyError, copy_sqlite_to_postgres
from bot.store import Store

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
