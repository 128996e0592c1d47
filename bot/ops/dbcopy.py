"""`aimant db copy`: every row of the SQLite database into an empty PostgreSQL database.

The SQLite file is first brought to the current schema (as the bot would at start). Then the
PostgreSQL database is looked at, read only: it must hold nothing (a new database), or only an
empty Aimant schema; another application's tables, a table of Aimant's name that Aimant did
not create, or any row: refused before anything is written there (not even `aimant_schema`).
It then gets the same schema (bot.store.dialect translates the migrations), and every table is
copied in ONE transaction, parents before children, with PostgreSQL's COPY; each table's row
count is checked against SQLite's before the commit, and the identity counters continue after
the highest id ever given (AUTOINCREMENT's memory included), so no id is reused. Any
difference: nothing is committed. After the commit, `VACUUM (ANALYZE)`; if that fails, the
copy stands (it is committed) and one line says to run it by hand.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing, suppress
from pathlib import Path
from typing import Any

from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.store.pg import PgConnection

CHUNK = 5000  # rows read from SQLite and sent with one COPY
NEW_DATABASE = "copy into a new, empty database (createdb -E UTF8 --locale=C -T template0 aimant)"
SHOWN = 8  # names listed in a refusal, at most


class CopyError(RuntimeError):
    """The copy did not happen (nothing was committed); the message says why."""


def _warn(line: str) -> None:
    print(line, file=sys.stderr)


def _names(names: list[str]) -> str:
    return ", ".join(names[:SHOWN]) + (
        f" and {len(names) - SHOWN} more" if len(names) > SHOWN else ""
    )


def sqlite_tables(raw: sqlite3.Connection) -> dict[str, list[str]]:
    """The store's tables of a SQLite file and their columns, in order."""
    names = [
        r[0]
        for r in raw.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            " ORDER BY name"
        )
    ]
    return {n: [c[1] for c in raw.execute(f'PRAGMA table_info("{n}")')] for n in names}


async def pg_tables(db: PgConnection) -> dict[str, list[str]]:
    """The store's tables of a PostgreSQL database and their columns, in order."""
    rows = await db.fetch_raw(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name <> 'aimant_schema'"
        " ORDER BY table_name, ordinal_position"
    )
    tables: dict[str, list[str]] = {}
    for row in rows:
        tables.setdefault(row["table_name"], []).append(row["column_name"])
    return tables


def _parents_first(raw: sqlite3.Connection, tables: list[str]) -> list[str]:
    """Tables ordered so that every table comes after those its foreign keys point to."""
    parents = {
        t: {r[2] for r in raw.execute(f'PRAGMA foreign_key_list("{t}")')} - {t} for t in tables
    }
    ordered: list[str] = []
    while len(ordered) < len(tables):
        ready = [t for t in tables if t not in ordered and parents[t] <= set(ordered)]
        if not ready:
            raise CopyError(f"foreign keys form a cycle among {sorted(set(tables) - set(ordered))}")
        ordered.extend(sorted(ready))
    return ordered


async def target_problem(conn: Any, tables: dict[str, list[str]]) -> str | None:
    """Why the PostgreSQL database cannot take the copy, or None; read only (an asyncpg
    connection): called before anything is written there. `tables`: Aimant's, by name."""
    schema = await conn.fetchval("SELECT current_schema()")
    if schema is None:
        return "no schema to create the tables in (search_path names none that exists)"
    rows = await conn.fetch(
        "SELECT c.relname, c.relkind::text AS relkind FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = $1 ORDER BY c.relname",
        schema,
    )
    objects = [r["relname"] for r in rows]
    found = [r["relname"] for r in rows if r["relkind"] in ("r", "p", "v", "m", "f")]
    if "aimant_schema" not in found:
        if not objects:
            return None  # a new database: the copy creates everything
        clash = [t for t in found if t in tables]
        if clash:
            return (
                f"the PostgreSQL database already has {_names(clash)}, named as Aimant's"
                " tables but not created by Aimant (it has no aimant_schema table): "
                f"{NEW_DATABASE}"
            )
        return (
            "the PostgreSQL database is not empty: it holds another application's"
            f" {'tables' if found else 'objects'} ({_names(found or objects)}); {NEW_DATABASE}"
        )
    version = await conn.fetchval("SELECT MAX(version) FROM aimant_schema")
    if version is not None and int(version) > len(MIGRATIONS):
        return (
            f"the PostgreSQL database's schema ({version}) is newer than this Aimant's"
            f" ({len(MIGRATIONS)}): upgrade Aimant, or {NEW_DATABASE}"
        )
    foreign = [t for t in found if t not in tables and t != "aimant_schema"]
    if foreign:
        return (
            "the PostgreSQL database holds tables besides Aimant's"
            f" ({_names(foreign)}); {NEW_DATABASE}"
        )
    for table in (t for t in found if t in tables):
        if await conn.fetchval(f'SELECT EXISTS (SELECT 1 FROM "{table}")'):
            return f"the PostgreSQL database is not empty ({table} has rows); {NEW_DATABASE}"
    return None


async def copy_sqlite_to_postgres(
    source: Path,
    url: str,
    say: Callable[[str], None] = print,
    warn: Callable[[str], None] = _warn,
) -> dict[str, int]:
    """Copy every row of `source` into the (empty) database at `url`; rows per table."""
    if not source.exists():
        raise CopyError(f"no SQLite database at {source} (setting DATABASE_PATH)")
    store = await Store.open(source)  # migrated forward first, like the bot would
    await store.close()
    with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)) as raw:
        tables = sqlite_tables(raw)
        # Looked at before the migrations write anything there.
        look = await PgConnection.connect(url)
        try:
            problem = await target_problem(look.raw, tables)
        finally:
            await look.close()
        if problem:
            raise CopyError(problem)
        target = await Store.open_postgres(url)
        db: PgConnection = target._db  # type: ignore[assignment]
        try:
            return await _copy(raw, db, say, warn)
        finally:
            with suppress(Exception):  # after the commit, a broken connection changes nothing
                await target.close()


async def vacuum(conn: Any) -> None:
    """The planner's statistics and the visibility map (index-only scans) for the copied rows."""
    await conn.execute("VACUUM (ANALYZE)")


async def _copy(
    raw: sqlite3.Connection,
    db: PgConnection,
    say: Callable[[str], None],
    warn: Callable[[str], None],
) -> dict[str, int]:
    tables = sqlite_tables(raw)
    theirs = await pg_tables(db)
    if tables != theirs:
        raise CopyError(
            "the PostgreSQL schema differs from the SQLite file's: "
            f"{sorted(set(tables).symmetric_difference(theirs)) or 'columns differ'}"
        )
    for table in tables:  # rows written since the look above (a bot started meanwhile)
        if await db.fetch_raw(f"SELECT 1 FROM {table} LIMIT 1"):
            raise CopyError(f"the PostgreSQL database is not empty ({table} has rows)")
    sequences = dict(raw.execute("SELECT name, seq FROM sqlite_sequence").fetchall())
    counts: dict[str, int] = {}
    await db.server_bound(None)  # a big table's COPY or COUNT may take longer than a handler's
    conn = db.raw
    raw.isolation_level = None
    raw.execute("BEGIN")  # one snapshot of the file for every table
    try:
        async with conn.transaction():
            for table in _parents_first(raw, list(tables)):
                columns = tables[table]
                quoted = ", ".join(f'"{c}"' for c in columns)
                cursor = raw.execute(f'SELECT {quoted} FROM "{table}"')
                while chunk := cursor.fetchmany(CHUNK):
                    await conn.copy_records_to_table(
                        table, records=[tuple(r) for r in chunk], columns=columns
                    )
                want = raw.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0]
                got = int(await conn.fetchval(f"SELECT COUNT(*) FROM {table}"))
                if got != want:
                    raise CopyError(f"{table}: {got} rows in PostgreSQL, {want} in SQLite")
                counts[table] = got
                if "id" in columns:
                    await _continue_ids(conn, table, sequences.get(table, 0))
    finally:
        raw.execute("ROLLBACK")
    # Committed: from here on, nothing undoes the copy.
    try:
        await vacuum(conn)
        vacuum_failed = None
    except Exception as exc:  # the server gone, a cancelled statement...: the rows are in
        vacuum_failed = f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": ")
    width = max(len(t) for t in counts)
    for table, n in counts.items():
        say(f"{table:<{width}} {n:>10,} rows  (SQLite {n:,}: equal)")
    say(f"copied {sum(counts.values()):,} rows in {len(counts)} tables, in one transaction")
    if vacuum_failed:
        warn(
            f"copied; VACUUM failed: {vacuum_failed}: run VACUUM ANALYZE yourself"
            """ (psql "$DATABASE_URL" -c 'VACUUM ANALYZE') before the bot's busy hours"""
        )
    return counts


async def _continue_ids(conn: Any, table: str, seen: int) -> None:
    """New ids go on after the highest one SQLite ever gave (AUTOINCREMENT never reuses one)."""
    top = await conn.fetchval(f"SELECT COALESCE(MAX(id), 0) FROM {table}")
    await conn.execute(
        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), $1::bigint, false)",
        max(int(top), int(seen or 0)) + 1,
    )
