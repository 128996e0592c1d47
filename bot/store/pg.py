"""The store on PostgreSQL: an asyncpg connection behind the small aiosqlite interface the
repositories use (execute, execute_fetchall, executemany, executescript, cursors' rowcount,
lastrowid and fetch*), each statement translated once by bot.store.dialect.

One connection, like SQLite's: statements of concurrent handlers take turns on it (a lock per
statement), transactions are serialised by the store's own lock (StoreBase._write).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

from bot.store.dialect import param_types, translate

# Tables whose rows get an `id` from the database: an INSERT returns it (cursor.lastrowid).
_SERIAL = frozenset({"events", "messages", "broadcasts", "mails", "hooks", "team_relays"})
_INSERT = re.compile(r"^\s*INSERT(?: OR \w+)? INTO (\w+)", re.IGNORECASE)
_RETURNING = re.compile(r"\sRETURNING\s", re.IGNORECASE)


def _params(params: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(int(p) if isinstance(p, bool) else p for p in params)


def _count(status: str) -> int:
    """The row count of a command tag (`UPDATE 3`, `INSERT 0 1`, `DELETE 0`)."""
    last = status.rsplit(" ", 1)[-1]
    return int(last) if last.isdigit() else -1


class PgCursor:
    """What a statement left: its rows (read at once), row count and the id it inserted."""

    def __init__(self, rows: Sequence[asyncpg.Record], rowcount: int, lastrowid: int | None):
        self._rows = list(rows)
        self._at = 0
        self.rowcount = rowcount
        self.lastrowid = lastrowid

    async def fetchone(self) -> asyncpg.Record | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    async def fetchmany(self, size: int = 64) -> list[asyncpg.Record]:
        chunk = self._rows[self._at : self._at + size]
        self._at += len(chunk)
        return chunk

    async def fetchall(self) -> list[asyncpg.Record]:
        chunk = self._rows[self._at :]
        self._at = len(self._rows)
        return chunk

    async def close(self) -> None:
        self._rows = []

    async def __aenter__(self) -> PgCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class _Pending:
    """`await db.execute(...)` and `async with db.execute(...) as cur`, as aiosqlite allows."""

    def __init__(self, run: Any) -> None:
        self._run = run
        self._cursor: PgCursor | None = None

    def __await__(self) -> Any:
        return self._run.__await__()

    async def __aenter__(self) -> PgCursor:
        self._cursor = await self._run
        return self._cursor

    async def __aexit__(self, *exc: object) -> None:
        if self._cursor is not None:
            await self._cursor.close()


class PgConnection:
    """An asyncpg connection that speaks the store's SQLite SQL (see bot.store.dialect)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._turn = asyncio.Lock()  # asyncpg runs one statement at a time per connection
        self.row_factory: Any = None  # asyncpg's records already read by name and by index

    @classmethod
    async def connect(cls, dsn: str) -> PgConnection:
        """Connect (a postgresql:// URL)."""
        return cls(await asyncpg.connect(dsn))

    @property
    def in_transaction(self) -> bool:
        return self._conn.is_in_transaction()

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _Pending:
        return _Pending(self._execute(sql, _params(params)))

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> PgCursor:
        pg = translate(sql, param_types([params]))
        if pg is None:
            return PgCursor([], -1, None)
        insert = _INSERT.match(sql)
        serial = insert is not None and insert.group(1) in _SERIAL
        async with self._turn:
            if serial and not _RETURNING.search(pg):
                rows = await self._conn.fetch(pg + " RETURNING id", *params)
                return PgCursor([], len(rows), int(rows[-1]["id"]) if rows else None)
            if _RETURNING.search(pg) or pg.lstrip().upper().startswith(("SELECT", "WITH")):
                rows = await self._conn.fetch(pg, *params)
                return PgCursor(rows, len(rows), None)
            status = await self._conn.execute(pg, *params)
        return PgCursor([], _count(status), None)

    async def execute_fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        cursor = await self._execute(sql, _params(params))
        return await cursor.fetchall()

    async def executemany(self, sql: str, rows: Iterable[Iterable[Any]]) -> None:
        batch = [_params(r) for r in rows]
        if not batch:
            return
        pg = translate(sql, param_types(batch))
        if pg is None:
            return
        async with self._turn:
            await self._conn.executemany(pg, batch)

    async def executescript(self, script: str) -> None:
        """Several statements without parameters (DDL), as they are."""
        async with self._turn:
            await self._conn.execute(script)

    async def fetch_raw(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        """PostgreSQL's own SQL, untranslated (the schema's catalogue, the copy)."""
        async with self._turn:
            return list(await self._conn.fetch(sql, *params))

    async def execute_raw(self, sql: str, *params: Any) -> str:
        """PostgreSQL's own SQL, untranslated."""
        async with self._turn:
            return str(await self._conn.execute(sql, *params))

    @property
    def raw(self) -> asyncpg.Connection:
        """The asyncpg connection itself (the copy's COPY)."""
        return self._conn

    async def close(self) -> None:
        await self._conn.close()
