"""Raw looks into a store's file, for checks only a test needs (row counts, forced states).

Each call opens its own sqlite3 connection to the file (`store.path`, or the path of a bot run
as a process), never the store's connection: the bot's code goes through the repositories, and
in WAL mode these reads see every committed write without waiting on the bot.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
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


def rows(store: Store | Path, sql: str, params: Params = ()) -> list[sqlite3.Row]:
    """Every row of a query."""
    with closing(_connect(store)) as raw:
        return raw.execute(sql, params).fetchall()


def one(store: Store | Path, sql: str, params: Params = ()) -> sqlite3.Row | None:
    """The first row of a query, or None."""
    with closing(_connect(store)) as raw:
        row: sqlite3.Row | None = raw.execute(sql, params).fetchone()
        return row


def value(store: Store | Path, sql: str, params: Params = ()) -> Any:
    """The first column of the first row (a COUNT(*), a MAX...), None without a row."""
    row = one(store, sql, params)
    return None if row is None else row[0]


def write_many(store: Store | Path, sql: str, params: Iterable[Params]) -> None:
    """One statement for each set of parameters, in one committed transaction (forcing a state)."""
    with closing(_connect(store)) as raw, raw:
        raw.executemany(sql, params)
