"""Raw looks into a store's file, for checks only a test needs (row counts, forced states).

Each call opens its own sqlite3 connection to the file (`store.path`, or the path of a bot run
as a process), never the store's connection: the bot's code goes through the repositories, and
in WAL mode these reads see every committed write without waiting on the bot. On a PostgreSQL
store, the same SQL (translated by bot.store.dialect) runs on a connection of its own, in a
thread with its own event loop, and sees what was committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

from bot.store import Store

Params = Sequence[Any]


def _file(store: Store | Path) -> Path:
    """The database file of a store (or the path itself)."""
    if isinstance(store, Path):
        return store
    if store.path is None:
        raise ValueError("an in-memory store has no file to look into: open it in tmp_path")
    return store.path


def _connect(store: Store | Path) -> sqlite3.Connection:
    raw = sqlite3.connect(_file(store), timeout=5)
    raw.row_factory = sqlite3.Row
    return raw


def _postgres(store: Store | Path | str, sql: str, batch: list[Params], many: bool) -> list[Any]:
    """The statement on a PostgreSQL store's database (its own connection), or [] for SQLite."""
    import asyncpg

    from bot.store.dialect import param_types, translate

    url = store if isinstance(store, str) else store.url if isinstance(store, Store) else None
    assert url is not None
    params = [tuple(int(p) if isinstance(p, bool) else p for p in row) for row in batch]
    pg = translate(sql, param_types(params))
    assert pg is not None, sql

    async def run() -> list[Any]:
        conn = await asyncpg.connect(url)
        try:
            if many:
                async with conn.transaction():
                    await conn.executemany(pg, params)
                return []
            return list(await conn.fetch(pg, *params[0]))
        finally:
            await conn.close()

    with ThreadPoolExecutor(1) as pool:  # the test's loop is busy waiting for this call
        return pool.submit(asyncio.run, run()).result()


def _on_postgres(store: Store | Path | str) -> bool:
    """A PostgreSQL store, or the postgresql:// URL of a bot run as a process."""
    return isinstance(store, str) or (isinstance(store, Store) and store.url is not None)


def rows(store: Store | Path | str, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    """Every row of a query."""
    if _on_postgres(store):
        return _postgres(store, sql, [params], False)
    with closing(_connect(store)) as raw:
        return raw.execute(sql, params).fetchall()


def one(store: Store | Path | str, sql: str, params: Params = ()) -> sqlite3.Row | None:
    """The first row of a query, or None."""
    if _on_postgres(store):
        return next(iter(_postgres(store, sql, [params], False)), None)
    with closing(_connect(store)) as raw:
        row: sqlite3.Row | None = raw.execute(sql, params).fetchone()
        return row


def value(store: Store | Path | str, sql: str, params: Params = ()) -> Any:
    """The first column of the first row (a COUNT(*), a MAX...), None without a row."""
    row = one(store, sql, params)
    return None if row is None else row[0]


def write_many(store: Store | Path | str, sql: str, params: Iterable[Params]) -> None:
    """One statement for each set of parameters, in one committed transaction (forcing a state)."""
    if _on_postgres(store):
        batch = [tuple(p) for p in params]
        if batch:
            _postgres(store, sql, batch, True)
        return
    with closing(_connect(store)) as raw, raw:
        raw.executemany(sql, params)
