"""The store's plumbing: opening and migrating the file, transactions,
the event log. The connection itself is bot.store.connection; repositories bot.store.repository."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager, closing
from enum import StrEnum
from pathlib import Path
from typing import Any, Self, cast

import aiosqlite

from bot.funnel.rules import stage_of
from bot.outbox.events import LEAD_FIELDS, HookType, event_body, lead_payload, new_event_id
from bot.settings import url_label
from bot.store.connection import LoopConnection, connect_writer, off_loop
from bot.store.dialect import schema
from bot.store.migrations import MIGRATIONS

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# Tables whose rows an erasure deletes or rewrites (with the cascades from leads): vacuumed
# after it on PostgreSQL, so that no dead row version still holds the person's data.
ERASED_TABLES = (
    "leads", "lead_magnets", "tips", "messages", "relays", "mentions", "optin_codes", "mails",
    "sessions", "unreadable_updates", "inbox", "broadcast_recipients", "events", "hooks",
    "team_relays", "conversations",
)  # fmt: skip
# The advisory lock held while the schema is migrated: "AIMANT" + 2 (the leader's lock,
# bot.store.cluster, is "AIMANT" + 1; "AIMANT" itself was the old single-process lock's).
MIGRATION_LOCK = 0x41494D414E56
PING_SECONDS = 15.0  # PostgreSQL: a `SELECT 1` slower than this (once its turn came) is lost
VACUUM_LOCK_TIMEOUT = "5s"  # a VACUUM of the same table elsewhere: wait this long, then leave
VACUUM_SECONDS = 900.0  # PostgreSQL: the VACUUM after an erasure (its own connection) at most
# PostgreSQL: each statement of the schema's migration at most (the wait for another process
# migrating it included): a migration rewriting a big table takes a while.
MIGRATION_SECONDS = 900.0
# PostgreSQL: the schema's version, one row (SQLite keeps it in PRAGMA user_version).
SCHEMA_TABLE = (
    "CREATE TABLE IF NOT EXISTS aimant_schema (version BIGINT NOT NULL);\n"
    "INSERT INTO aimant_schema (version) SELECT 0\n"
    " WHERE NOT EXISTS (SELECT 1 FROM aimant_schema);\n"
)
WAL_LIMIT = 4 * 1024 * 1024  # a checkpointed WAL is cut back to this, not kept at its peak size
# A checkpoint finishing under the write lock (StoreBase._checkpoint) first catches up without
# it, up to this many more passes, while the last pass saw more frames than this written.
CATCH_UP_PASSES = 2
TAIL_FRAMES = 256


def checkpoint_file(path: Path) -> None:
    """Fold a database's WAL into it and truncate the WAL (no store open: before starting)."""
    with closing(sqlite3.connect(path, timeout=5)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


class DatabaseGone(RuntimeError):
    """The database file was deleted or replaced under the open connection, or (PostgreSQL) the
    connection is lost: nothing is written."""


def server_cancelled(exc: BaseException) -> bool:
    """PostgreSQL cancelled the statement (past its statement_timeout: another session's lock
    waited for), the connection fine (SQLSTATE 57014; asyncpg not imported for it)."""
    return getattr(exc, "sqlstate", None) == "57014"


class SchemaError(RuntimeError):
    """The database's schema cannot be used by this Aimant (newer, or not created by it)."""


class SessionError(RuntimeError):
    """The database's sessions cannot hold the cluster's locks and LISTEN: a pooler hands one
    server session to several clients in turn (PgBouncer's transaction or statement mode)."""


def lost_line(url: str, why: str) -> str:
    """The one CRITICAL line for a PostgreSQL connection lost while the bot runs."""
    return (
        f"lost the connection to the database {url_label(url)} (setting DATABASE_URL): {why};"
        " stopping so that the supervisor starts the bot again once PostgreSQL is back"
        " (nothing confirmed to Telegram is lost: updates not handled are replayed)"
    )


class Event(StrEnum):
    """Kinds of the append-only event log (every KPI is computed from these)."""

    START = "start"
    LEAD = "lead"
    RESUBSCRIBE = "resubscribe"
    ANSWER = "answer"
    DOWNLOAD = "download"  # value "first", or "again" when the same person gets it again
    UNSUBSCRIBE = "unsubscribe"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    ERASE = "erase"
    TIP_SENT = "tip_sent"  # magnet_id, value = tip id
    TIP_UNKNOWN = "tip_unknown"  # in flight when the process died: maybe delivered, never resent
    TIP_CLICK = "tip_click"  # first click of a tip's button by this person
    PLAN = "plan"  # asked for a personalised plan (once per person)
    CONTACT = "contact"  # sent the contact form (each message)
    CONTACTED = "contacted"  # an owner marked the lead contacted
    WON = "won"  # an owner marked the lead won (once per person)
    BROADCAST_STOP = "broadcast_stop"  # the stop button under a broadcast, value = its id
    VERIFIED = "verified"  # first verification of the person's email by code (once per person)
    TEAM_IN = "team_in"  # a message of the person reached the team inbox (each message)
    TEAM_ANSWER = "team_answer"  # the team answered a waiting person; value = seconds waited


class StoreBase:
    """The connection and what every part of the store shares; every write is one transaction."""

    def __init__(self, db: aiosqlite.Connection, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # One connection is shared by concurrent handlers: serialise transactions on it.
        self._write = asyncio.Lock()
        # Webhook URLs events are queued for (none: nothing is queued), and who to wake then.
        self.hook_urls: tuple[str, ...] = ()
        self.on_hook: Callable[[], None] | None = None
        self._hooked = False
        # The file opened (its path and (st_dev, st_ino)): writes stop if the path changes.
        self.path: Path | None = None
        self._file: tuple[int, int] | None = None
        # A second, read-only connection for KPIs (reader), and the owners left out of them.
        self._reader: Self | None = None
        self._owners: tuple[int, ...] = ()
        # A third connection, its own thread, for the periodic WAL checkpoints (see _wrote),
        # and the one running now (none is awaited by an update: their fsyncs take a while).
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpointing: asyncio.Task[None] | None = None
        # Held by whoever checkpoints (SQLite runs one at a time; a second one just returns
        # busy): always taken before the write lock, never after it (no deadlock).
        self._checkpoint_lock = asyncio.Lock()
        # "sqlite", or "postgresql" (open_postgres: the same SQL, translated by bot.store.pg),
        # and then the database's URL (a secret: its password; never logged).
        self.dialect = "sqlite"
        self.url: str | None = None

    @classmethod
    async def open(cls, path: Path | str, clock: Clock = time.time) -> Self:
        """Open (creating and migrating if needed) the database file."""
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        db = await connect_writer(str(path))
        db.row_factory = aiosqlite.Row
        try:
            await db.execute("PRAGMA journal_mode=WAL")
            await db.execute("PRAGMA synchronous=NORMAL")
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("PRAGMA busy_timeout=5000")
            # Checkpoints run in aiosqlite's thread (StoreBase._wrote), not in a COMMIT.
            await db.execute("PRAGMA wal_autocheckpoint=0")
            # Erased personal data is overwritten on disk, not just unlinked from the b-tree.
            await db.execute("PRAGMA secure_delete=ON")
            await db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            # Fold a WAL left by a crash or a full disk back into the file and give its room back.
            await db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store = cls(db, clock)
            if str(path) != ":memory:":
                st = os.stat(path)
                store.path, store._file = Path(path), (st.st_dev, st.st_ino)
            return await store._ready()
        except BaseException:
            await db.close()
            raise

    @classmethod
    async def open_postgres(cls, url: str, clock: Clock = time.time) -> Self:
        """Open (creating and migrating the schema if needed) a PostgreSQL database; several
        processes may have it open at once."""
        from bot.store.pg import SERVER_SECONDS, PgConnection  # asyncpg only where used

        db = await PgConnection.connect(url)
        try:
            store = cls(cast(aiosqlite.Connection, db), clock)
            store.dialect, store.url = "postgresql", url
            await store._ready()  # the migration first: its statements may take longer
            await db.server_bound(SERVER_SECONDS)
            return store
        except BaseException:
            await db.close()
            raise

    async def _ready(self) -> Self:
        """The schema migrated forward and this connection's view of the owners set up."""
        await self._migrate()
        await self._prospects_view()
        return self

    async def close(self) -> None:
        """Close the connection (and the reader's)."""
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._checkpointing is not None:
            await asyncio.wait([self._checkpointing])  # a checkpoint under way ends first
            self._checkpointing = None
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        await self._db.close()

    def abort(self) -> None:
        """PostgreSQL: drop the connections at once (a fatal fault: nothing more is written);
        statements under way or to come raise DatabaseGone. SQLite: nothing to do."""
        from bot.store.pg import PgConnection

        for store in (self, self._reader):
            if store is not None and isinstance(store._db, PgConnection):
                store._db.abort()

    def on_lost(self, listener: Callable[[str], None]) -> None:
        """PostgreSQL: `listener` told once, with why, when the store's connection is lost
        (closed by the server, or a statement not answered in time). SQLite: never."""
        from bot.store.pg import PgConnection

        if isinstance(self._db, PgConnection):
            self._db.on_lost.append(listener)

    async def abort_unless_answering(self, seconds: float) -> None:
        """PostgreSQL, after a fatal fault elsewhere: the connections dropped (abort) if lost
        or if a `SELECT 1` does not come back within `seconds`, its wait behind a statement
        that hangs included; else kept, so that the updates under way finish."""
        if getattr(self._db, "lost", None):
            self.abort()
            return
        try:
            await asyncio.wait_for(self._db.execute_fetchall("SELECT 1"), seconds)
        except Exception:  # the timeout, or the connection lost
            self.abort()

    async def reader(self) -> Self:
        """A second connection to the same file, read-only, with its own thread: long KPI
        queries on it run while this one answers others (/stats uses both cores); on
        PostgreSQL a second connection, read-only. This store itself for an in-memory
        database, or once the file was deleted or replaced."""
        reader_lost = self._reader is not None and getattr(self._reader._db, "lost", None)
        if self.url is not None and self._reader is not None and reader_lost:
            await self._reader.close()  # a query past its bound: a new connection
            self._reader = None
        if self.url is not None and self._reader is None:
            from bot.store.pg import READER_SECONDS, PgConnection

            pg = await PgConnection.connect(self.url, timeout=READER_SECONDS)
            try:
                reader = type(self)(cast(aiosqlite.Connection, pg), self._clock)
                reader.dialect = self.dialect
                await reader._prospects_view()  # temporary: still allowed read-only
                await pg.execute_raw("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
                await _fill_owners(reader._db, self._owners)
            except BaseException:
                await pg.close()
                raise
            self._reader = reader
        if self.url is not None:
            assert self._reader is not None
            return self._reader
        if self.path is None or self.file_problem():  # the file gone: this connection only
            return self
        if self._reader is None:
            uri = self.path.resolve().as_uri() + "?mode=ro"
            db = await aiosqlite.connect(uri, uri=True, isolation_level=None)
            db.row_factory = aiosqlite.Row
            await db.execute("PRAGMA busy_timeout=5000")
            reader = type(self)(db, self._clock)
            await reader._prospects_view()
            await _fill_owners(db, self._owners)
            self._reader = reader
        return self._reader

    def file_problem(self) -> str | None:
        """Whether the database file was deleted or replaced since it was opened, or None."""
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return f"the database file {self.path} was deleted while the bot ran"
        if (st.st_dev, st.st_ino) != self._file:
            return f"the database file {self.path} was replaced by another file while the bot ran"
        return None

    async def connection_problem(self) -> str | None:
        """PostgreSQL: why the connection is gone (the server stopped, restarted or
        unreachable), or None; SQLite: None. A round trip, `SELECT 1`, bounded in time."""
        if self.url is None:
            return None
        from bot.store.pg import PgConnection

        assert isinstance(self._db, PgConnection)
        why = self._db.lost or ("the server closed it" if self._db.raw.is_closed() else None)
        if why is None:
            try:
                await self._db.ping(PING_SECONDS)
            except DatabaseGone:
                why = self._db.lost or "the server closed it"
            except Exception as exc:
                if not _connection_lost(exc):  # e.g. inside a transaction that just failed
                    return None
                why = f"{type(exc).__name__}: {str(exc)[:200]}".rstrip(": ")
        if why is None:
            return None
        return lost_line(self.url, why)

    def _check_file(self) -> None:
        # Cheap (one stat): never commit into a file nobody can open again.
        problem = self.file_problem()
        if problem:
            raise DatabaseGone(problem)

    async def checkpoint(self) -> None:
        """Copy the WAL into the database file and truncate it (gives disk space back)."""
        if self.dialect != "sqlite":
            return  # PostgreSQL checkpoints by itself
        # After the checkpoints' task, if one runs (it may need the write lock to finish).
        async with self._checkpoint_lock, self._write:
            with off_loop():
                await self._db.execute_fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    async def purge_erased(self) -> None:
        """After an erasure's COMMIT, the old versions of its rows go: SQLite folds its WAL into
        the file (secure_delete has overwritten the pages); PostgreSQL vacuums the tables it
        touched, on a connection of its own (VACUUM cannot run in a transaction, and this
        connection keeps serving meanwhile); what stays anyway: README, "PostgreSQL"."""
        if self.url is None:
            await self.checkpoint()
            return
        from bot.store.pg import PgConnection

        started = time.monotonic()
        try:
            pg = await PgConnection.connect(self.url, timeout=VACUUM_SECONDS)
            try:
                await pg.execute_raw(f"SET lock_timeout = '{VACUUM_LOCK_TIMEOUT}'")
                # INDEX_CLEANUP ON: index entries hold the keys too (an erased id, an email).
                await pg.execute_raw(f"VACUUM (INDEX_CLEANUP ON) {', '.join(ERASED_TABLES)}")
            finally:
                await pg.close()
        except Exception as exc:  # the erasure is committed: autovacuum removes the rest later
            log.warning("VACUUM after an erasure did not run (%s): autovacuum will do it",
                        type(exc).__name__)  # fmt: skip
            return
        # Row versions another session's open snapshot still sees stay until autovacuum.
        log.info("VACUUM after an erasure done in %.0f ms", (time.monotonic() - started) * 1000)

    async def copy_to(self, target: Path) -> None:
        """A compact, consistent copy of the open database (also of a file since deleted)."""
        if self.dialect != "sqlite":
            raise NotImplementedError("a PostgreSQL database is backed up with pg_dump")
        async with self._write:
            with off_loop():
                await self._db.execute("VACUUM INTO ?", (str(target),))

    def now(self) -> int:
        """The store's clock, in whole seconds."""
        return int(self._clock())

    async def _migrate(self) -> None:
        if self.dialect == "sqlite":
            await self._migrate_now()
            return
        # Several processes starting at once on PostgreSQL: one migrates, the others wait for
        # it, then find the schema current (two concurrent DDL scripts would fail).
        from bot.store.pg import bounded

        with bounded(MIGRATION_SECONDS):
            await self._db.execute("SELECT pg_advisory_lock(?)", (MIGRATION_LOCK,))
            try:
                await self._migrate_now()
            finally:
                # A failed migration leaves its transaction open and aborted: rolled back
                # first, else the unlock itself fails and hides why (and the lock stays).
                if self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                await self._db.execute("SELECT pg_advisory_unlock(?)", (MIGRATION_LOCK,))

    async def _migrate_now(self) -> None:
        version = await self.schema_version()
        if version > len(MIGRATIONS):
            raise SchemaError(
                f"its schema ({version}) is newer than this Aimant's ({len(MIGRATIONS)}):"
                " upgrade Aimant (to the version that wrote it, or a newer one)"
            )
        for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
            try:
                if self.dialect != "sqlite":  # the same migrations, as PostgreSQL DDL
                    # aimant_schema in the first one's transaction: a migration refused (another
                    # application's tables) leaves nothing of Aimant's behind.
                    first = SCHEMA_TABLE if number == version + 1 else ""
                    await self._db.executescript(
                        f"BEGIN;\n{first}{schema(script)}\n"
                        f"UPDATE aimant_schema SET version = {number};\nCOMMIT;"
                    )
                    continue
                await self._db.executescript(
                    f"BEGIN;\n{script}\nPRAGMA user_version={number};\nCOMMIT;"
                )
            except Exception as exc:
                if not _statement_failed(exc, self.dialect):
                    raise
                if self.dialect == "sqlite" and self._db.in_transaction:
                    await self._db.execute("ROLLBACK")
                raise SchemaError(
                    f"its schema could not be migrated to version {number} ({version} found:"
                    f" {type(exc).__name__}: {str(exc)[:200]}); is it another application's?"
                    " Aimant needs an empty database or one it created"
                ) from exc

    async def _prospects_view(self) -> None:
        """`prospect_events`: the event log without the owners, for every KPI and the export.

        Temporary (this connection only, nothing in the file): who the owners are is a setting.
        """
        if self.dialect != "sqlite":
            await self._db.executescript(
                "CREATE TEMP TABLE IF NOT EXISTS owners (user_id BIGINT PRIMARY KEY);"
                "CREATE OR REPLACE TEMP VIEW prospect_events AS SELECT * FROM events"
                " WHERE person NOT IN (SELECT user_id FROM pg_temp.owners);"
            )
            return
        await self._db.executescript(
            "CREATE TEMP TABLE IF NOT EXISTS owners (user_id INTEGER PRIMARY KEY);"
            "CREATE TEMP VIEW IF NOT EXISTS prospect_events AS SELECT * FROM main.events"
            " WHERE person NOT IN (SELECT user_id FROM temp.owners);"
        )

    async def set_owners(self, owner_ids: Iterable[int]) -> None:
        """Owners are not prospects: what they do is left out of the KPIs and the export."""
        self._owners = tuple(owner_ids)
        async with self._tx() as db:
            await _fill_owners(db, self._owners)
        if self._reader is not None:
            await _fill_owners(self._reader._db, self._owners)

    async def schema_version(self) -> int:
        """The schema version of the open file."""
        if self.dialect != "sqlite":
            found = await self._one("SELECT to_regclass('aimant_schema') IS NOT NULL")
            if found is None or not found[0]:  # no Aimant schema yet
                return 0
            row = await self._one("SELECT version FROM aimant_schema")
            return int(row[0]) if row else 0
        async with self._db.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    @asynccontextmanager
    async def _tx(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write:
            self._check_file()
            await self._run("BEGIN IMMEDIATE")
            try:
                yield self._db
                await self._run("COMMIT")
            except BaseException:
                self._hooked = False
                if self._db.in_transaction:  # also when COMMIT itself failed (disk full...)
                    await self._run("ROLLBACK")
                raise
        if self._hooked:  # events were queued for other tools: wake their sender
            self._hooked = False
            if self.on_hook is not None:
                self.on_hook()
        await self._wrote()

    async def _lock(self, db: aiosqlite.Connection, person: int) -> None:
        """PostgreSQL: the person's lead row locked until COMMIT, first in the transaction.

        Processes write at once on PostgreSQL (READ COMMITTED): a handler in one, an owner's
        command or the sender in another. Every transaction about a person that reads before
        it writes (a first-time event, an attempt counter, the stage) takes this lock first,
        so they take turns per person and always in the same order (no deadlock between two
        of them); what each reads after it is what the one before committed. SQLite's BEGIN
        IMMEDIATE already serialises every transaction: nothing to do there.
        """
        if self.dialect != "sqlite":
            await db.execute(
                "SELECT 1 FROM leads WHERE user_id = ? /*FOR NO KEY UPDATE*/", (person,)
            )

    async def _wrote(self) -> None:
        """After a commit: now and then, fold the WAL into the file, off the loop's thread.

        On a connection of its own, in a task of its own: a PASSIVE checkpoint never blocks
        the writer, and its fsyncs (tens of ms, more under load) then stall no statement and
        delay no reply; on the writer's connection every statement would queue behind them
        (an in-memory database, or the file gone: the writer's, under the write lock)."""
        if not (isinstance(self._db, LoopConnection) and self._db.checkpoint_due()):
            return
        if self.path is not None and not self.file_problem():
            if self._checkpointing is None or self._checkpointing.done():  # one at a time
                self._checkpointing = asyncio.create_task(self._checkpoint())
            return
        async with self._checkpoint_lock, self._write:
            # Every row read: a statement left half-read would block the next COMMIT.
            with off_loop():
                await self._db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")

    async def _checkpoint(self) -> None:
        """A PASSIVE checkpoint on the checkpoints' connection; a failure is only logged (the
        WAL just grows until the next one: nothing written is at stake).

        The writer goes on meanwhile, so the WAL is rarely fully checkpointed at the end, and
        SQLite only starts it again from the top (then cuts it back to WAL_LIMIT) when a write
        transaction begins on a fully checkpointed WAL: under steady writes it would grow
        without bound. So once the -wal file is past WAL_LIMIT, a second PASSIVE pass copies
        what was written during the first one under the write lock (short: only that tail is
        left: passes without it catch up first if much was written meanwhile), and the next
        transaction restarts the WAL, which COMMIT cuts back to WAL_LIMIT. The first, long
        pass never holds the lock. (Its row cannot tell whether the WAL is left whole: its
        frame count is the WAL's when it began, without what was written during it.)"""
        try:
            async with self._checkpoint_lock:
                db = await self._checkpointer_db()
                frames, _ = await _passive(db)
                if _size(Path(f"{self.path}-wal")) > WAL_LIMIT:
                    for _ in range(CATCH_UP_PASSES):  # much written meanwhile: again, unlocked
                        later, _ = await _passive(db)
                        if later - frames < TAIL_FRAMES:
                            break
                        frames = later
                    async with self._write:
                        frames, done = await _passive(db)
                    if done < frames:  # a reader's snapshot still needs the WAL: next time
                        log.debug("WAL checkpoint left %d of %d frames", frames - done, frames)
        except Exception as exc:
            log.warning("WAL checkpoint failed: %s", exc)

    async def _checkpointer_db(self) -> aiosqlite.Connection:
        """The checkpoints' connection to the open file, opened once (by one task at a time)."""
        if self._checkpointer is None:
            assert self.path is not None
            db = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
            await db.execute("PRAGMA busy_timeout=5000")
            await db.execute(f"PRAGMA journal_size_limit={WAL_LIMIT}")
            self._checkpointer = db
        return self._checkpointer

    async def _write1(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """One statement, its own transaction (autocommit): one call to the connection.

        Returns the rows of a RETURNING clause, if any.
        """
        async with self._write:  # never inside another coroutine's open transaction
            self._check_file()
            rows = await self._rows(sql, params)
        await self._wrote()
        return rows

    async def _one(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        rows = await self._rows(sql, params)  # one call, rows read at once
        return rows[0] if rows else None

    async def _all(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        return await self._rows(sql, params)

    async def _run(self, sql: str) -> None:
        """A statement without parameters or rows (BEGIN, COMMIT...), the writer's shortcut."""
        if isinstance(self._db, LoopConnection):
            await self._db.fetch_rows(sql, ())
        else:
            await self._db.execute(sql)

    async def _rows(self, sql: str, params: Iterable[Any]) -> list[aiosqlite.Row]:
        """Every row of one statement, read at once (the writer's shortcut, LoopConnection)."""
        if isinstance(self._db, LoopConnection):
            return await self._db.fetch_rows(sql, tuple(params))
        return list(await self._db.execute_fetchall(sql, tuple(params)))

    async def _event(
        self,
        db: aiosqlite.Connection,
        person: int,
        kind: Event,
        *,
        magnet_id: str | None = None,
        source: str | None = None,
        value: str | None = None,
        update_id: int | None = None,
    ) -> None:
        await db.execute(
            "INSERT OR IGNORE INTO events (at, person, kind, magnet_id, source, value, update_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.now(), person, kind.value, magnet_id, source, value, update_id),
        )

    async def _hook(
        self,
        db: aiosqlite.Connection,
        user_id: int,
        kind: HookType,
        data: dict[str, Any] | None = None,
        urls: tuple[str, ...] | None = None,
    ) -> None:
        """Queue an event for every webhook URL (or `urls`), in the caller's transaction."""
        urls = self.hook_urls if urls is None else urls
        if not urls:
            return
        if kind is HookType.ERASED:
            lead: dict[str, Any] = {"id": user_id}  # nothing personal after an erasure
        else:
            row = await self._one(f"SELECT {LEAD_FIELDS} FROM leads WHERE user_id = ?", (user_id,))
            if row is None:
                return
            lead = lead_payload(dict(row))
        now, event_id = self.now(), new_event_id()
        body = event_body(event_id, kind, now, lead, data)
        await db.executemany(
            "INSERT OR IGNORE INTO hooks"
            " (event_id, url, lead_key, type, body, next_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(event_id, url, user_id, kind.value, body, now, now) for url in urls],
        )
        self._hooked = True

    async def _refresh_stage(self, db: aiosqlite.Connection, user_id: int) -> None:
        """Recompute a person's stage from what is stored (bot.funnel.rules.stage_of)."""
        row = await self._one(
            "SELECT stage, email IS NOT NULL AS has_email, unsubscribed_at IS NOT NULL AS unsub,"
            " blocked_at IS NOT NULL AS blocked, hot_at IS NOT NULL AS hot,"
            " won_at IS NOT NULL AS won,"
            " EXISTS(SELECT 1 FROM lead_magnets m WHERE m.user_id = l.user_id"
            " AND m.delivered_at IS NOT NULL) AS delivered,"
            " EXISTS(SELECT 1 FROM tips t WHERE t.user_id = l.user_id"
            " AND t.state IN ('sent', 'unknown')) AS tips"
            " FROM leads l WHERE user_id = ?",
            (user_id,),
        )
        if row is None:
            return
        stage = stage_of(
            has_email=bool(row["has_email"]),
            delivered=bool(row["delivered"]),
            tips_received=bool(row["tips"]),
            ready_to_talk=bool(row["hot"]),
            won=bool(row["won"]),
            unsubscribed=bool(row["unsub"]),
            blocked=bool(row["blocked"]),
        )
        if stage.value != row["stage"]:  # most writes leave the stage as it was: no UPDATE then
            await db.execute("UPDATE leads SET stage = ? WHERE user_id = ?", (stage.value, user_id))

    # --- for tests and checks ------------------------------------------------------------

    async def count_events(
        self, kind: Event, person: int | None = None, value: str | None = None
    ) -> int:
        """How many events of a kind (for one person, or everyone; with a value, or any)."""
        sql = "SELECT COUNT(*) FROM events WHERE kind = ?"
        params: list[Any] = [kind.value]
        if value is not None:
            sql += " AND value = ?"
            params.append(value)
        if person is not None:
            sql += " AND person = ?"
            params.append(person)
        row = await self._one(sql, params)
        return int(row[0]) if row else 0


def _size(path: Path) -> int:
    """A file's size in bytes (0: there is none)."""
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


async def _passive(db: aiosqlite.Connection) -> tuple[int, int]:
    """A PASSIVE checkpoint: the WAL's frames and how many of them are now in the file."""
    rows = list(await db.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)"))
    _busy, frames, done = (int(value) for value in rows[0])
    return frames, done


def _statement_failed(exc: Exception, dialect: str) -> bool:
    """Whether a migration's error is the database refusing a statement (not a bug here)."""
    if isinstance(exc, sqlite3.Error):
        return True
    if dialect == "sqlite":
        return False
    import asyncpg  # only with PostgreSQL

    return isinstance(exc, asyncpg.PostgresError)


def _connection_lost(exc: Exception) -> bool:
    """Whether a PostgreSQL error means the connection itself is gone (the socket, the server
    shutting down or restarting: SQLSTATE classes 08 and 57), not a failed statement."""
    import asyncpg  # only with PostgreSQL

    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.PostgresConnectionError):
        return True
    state = getattr(exc, "sqlstate", None) or ""
    return isinstance(exc, asyncpg.PostgresError) and state[:2] in ("08", "57")


async def _fill_owners(db: aiosqlite.Connection, owner_ids: tuple[int, ...]) -> None:
    """The connection's temporary owners table holds exactly these (prospect_events)."""
    await db.execute("DELETE FROM temp.owners")
    await db.executemany(
        "INSERT OR IGNORE INTO temp.owners (user_id) VALUES (?)", [(o,) for o in owner_ids]
    )
