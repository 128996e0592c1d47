"""The store on PostgreSQL: an asyncpg connection behind the small aiosqlite interface the
repositories use (execute, execute_fetchall, executemany, executescript, cursors' rowcount,
lastrowid and fetch*), each statement translated once by bot.store.dialect.

One connection, like SQLite's: statements of concurrent handlers take turns on it (a lock per
statement), transactions are serialised by the store's own lock (StoreBase._write).

Every statement is bounded in time (STATEMENT_SECONDS, or a longer bound the caller asks for:
`bounded()`): a server that stops answering (stopped, its machine frozen, a network cut without
a reset) would otherwise leave the statement, and everything queued behind it, waiting forever.
Past the bound the connection is taken as lost: dropped at once (asyncpg's terminate, no
goodbye to a server that does not answer), and every statement on it from then on raises
DatabaseGone at once, with why (`lost`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import asyncpg

from bot.settings import url_label
from bot.store.core import DatabaseGone
from bot.store.dialect import param_types, translate

# The store's statements: the longest a legitimate one takes is well under a second (the
# store's own connection never runs the KPIs nor /export: its reader does, READER_SECONDS).
STATEMENT_SECONDS = 30.0
# The server cancels a store statement past this (a wait for another session's lock included:
# a VACUUM FULL, a LOCK TABLE, a newer Aimant's migration): that statement fails alone, the
# connection stays, instead of the client's bound above dropping it and the process with it.
SERVER_SECONDS = 25.0
READER_SECONDS = 300.0  # the reader's KPI queries (/stats, the export on 100k+ leads)
CONNECT_SECONDS = 10.0  # a new connection (asyncpg's own default: 60 s)
CLOSE_SECONDS = 5.0  # a graceful close; then dropped
# The current task's statements get this bound instead (`bounded()`), e.g. a migration.
_BOUND: ContextVar[float | None] = ContextVar("pg_bound", default=None)


@contextmanager
def bounded(seconds: float) -> Iterator[None]:
    """Statements of the current task (and tasks it starts) may take up to `seconds` each:
    the schema's migration (waiting for another process's too), a VACUUM."""
    token = _BOUND.set(seconds)
    try:
        yield
    finally:
        _BOUND.reset(token)


def seconds_text(seconds: float) -> str:
    """`30 s`, `0.5 s`."""
    return f"{seconds:g} s"


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

    def __init__(
        self, conn: asyncpg.Connection, label: str = "PostgreSQL",
        timeout: float = STATEMENT_SECONDS,
    ) -> None:  # fmt: skip
        self._conn = conn
        self._turn = asyncio.Lock()  # asyncpg runs one statement at a time per connection
        self.row_factory: Any = None  # asyncpg's records already read by name and by index
        self.label = label  # the database, for messages (no password)
        self.timeout = timeout  # each statement's bound, unless `bounded()` says otherwise
        self.lost: str | None = None  # why the connection is gone (then DatabaseGone at once)
        self.on_lost: list[Callable[[str], None]] = []  # told once, with why
        self._closing = False
        conn.add_termination_listener(lambda *_: self._gone("the server closed it"))

    @classmethod
    async def connect(cls, dsn: str, timeout: float = STATEMENT_SECONDS) -> PgConnection:
        """Connect (a postgresql:// URL), within CONNECT_SECONDS; statements bounded by
        `timeout` each."""
        conn = await asyncpg.connect(dsn, timeout=CONNECT_SECONDS)
        return cls(conn, url_label(dsn), timeout)

    @property
    def in_transaction(self) -> bool:
        return self._conn.is_in_transaction()

    def _gone(self, why: str) -> None:
        """The connection is lost (once): dropped, and whoever listens is told."""
        if self.lost is not None or self._closing:
            return
        self.lost = why
        self._conn.terminate()  # never waits: the server may not answer
        for listener in self.on_lost:
            listener(why)

    def abort(self) -> None:
        """Drop the connection at once (a fatal fault: nothing more is written on it); its
        statements under way and to come raise DatabaseGone."""
        if self.lost is None:
            self.lost = "dropped after a fatal fault"
        self._closing = True
        self._conn.terminate()

    def _refused(self) -> DatabaseGone:
        return DatabaseGone(f"the connection to the database {self.label} is lost: {self.lost}")

    async def _call(self, method: str, *args: Any) -> Any:
        """One asyncpg call, its turn on the connection first, bounded in time (see above)."""
        if self.lost is not None:
            raise self._refused()
        seconds = _BOUND.get() or self.timeout
        async with self._turn:
            if self.lost is not None:  # lost while this one waited for its turn
                raise self._refused()
            try:
                async with asyncio.timeout(seconds):
                    return await getattr(self._conn, method)(*args)
            except TimeoutError:
                self._gone(f"no answer within {seconds_text(seconds)}")
                raise self._refused() from None
            except (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError) as exc:
                if not self._conn.is_closed() and self.lost is None:
                    raise  # e.g. a statement refused: the connection itself is fine
                self._gone(f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": "))
                raise self._refused() from exc

    async def ping(self, seconds: float) -> None:
        """A round trip, `SELECT 1`, bounded by `seconds` from when it has its turn: a long
        statement before it is bounded by its own bound (then the connection is lost)."""
        with bounded(seconds):
            await self._call("fetchval", "SELECT 1")

    async def server_bound(self, seconds: float | None) -> None:
        """The server cancels each statement of this session past `seconds` (a lock wait
        included; None: never). SET, not a start-up parameter: PgBouncer refuses those."""
        await self._call("execute", f"SET statement_timeout = {round((seconds or 0) * 1000)}")

    def execute(self, sql: str, params: Iterable[Any] = ()) -> _Pending:
        return _Pending(self._execute(sql, _params(params)))

    async def _execute(self, sql: str, params: tuple[Any, ...]) -> PgCursor:
        pg = translate(sql, param_types([params]))
        if pg is None:
            return PgCursor([], -1, None)
        insert = _INSERT.match(sql)
        serial = insert is not None and insert.group(1) in _SERIAL
        if serial and not _RETURNING.search(pg):
            rows = await self._call("fetch", pg + " RETURNING id", *params)
            return PgCursor([], len(rows), int(rows[-1]["id"]) if rows else None)
        if _RETURNING.search(pg) or pg.lstrip().upper().startswith(("SELECT", "WITH")):
            rows = await self._call("fetch", pg, *params)
            return PgCursor(rows, len(rows), None)
        status = await self._call("execute", pg, *params)
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
        await self._call("executemany", pg, batch)

    async def executescript(self, script: str) -> None:
        """Several statements without parameters (DDL), as they are."""
        await self._call("execute", script)

    async def fetch_raw(self, sql: str, *params: Any) -> list[asyncpg.Record]:
        """PostgreSQL's own SQL, untranslated (the schema's catalogue, the copy)."""
        return list(await self._call("fetch", sql, *params))

    async def execute_raw(self, sql: str, *params: Any) -> str:
        """PostgreSQL's own SQL, untranslated."""
        return str(await self._call("execute", sql, *params))

    @property
    def raw(self) -> asyncpg.Connection:
        """The asyncpg connection itself (the copy's COPY: not bounded, not watched)."""
        return self._conn

    async def close(self) -> None:
        """Close gracefully within CLOSE_SECONDS, else drop it; a lost one is just dropped
        (asyncpg's close first waits, unbounded, for cancel requests to a dead server)."""
        self._closing = True
        if self.lost is not None or self._conn.is_closed():
            self._conn.terminate()
            return
        try:
            await asyncio.wait_for(self._conn.close(), CLOSE_SECONDS)
        except Exception:
            self._conn.terminate()
