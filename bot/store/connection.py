"""The store's connection: aiosqlite's, whose short statements may run on the loop's thread.

An update's own statements (`inline_statements()`, set by the intake for the update's task)
run on the event loop's thread: a trip to aiosqlite's thread costs more CPU than the statement.
Long ones (`off_loop()`) and every other task's stay in aiosqlite's thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import aiosqlite

# Rows written between two checkpoints. SQLite's own (every 1,000 WAL pages) would run inside
# whichever COMMIT crosses the mark, with two fsyncs: on the loop's thread, a stall for everyone.
CHECKPOINT_ROWS = 1000


# The task whose statements run on the event loop's thread (an update being handled), and
# whether the current code asked for aiosqlite's thread anyway (a statement known to be long).
_INLINE: ContextVar[asyncio.Task[Any] | None] = ContextVar("inline", default=None)
_OFF_LOOP: ContextVar[bool] = ContextVar("off_loop", default=False)


@contextmanager
def inline_statements() -> Iterator[None]:
    """The current task's statements on the writer run on the loop's thread (not its tasks').

    A statement of a few microseconds costs ~0.1 ms of CPU as a trip to aiosqlite's thread
    (queue, wakeup, the loop's self-pipe): an update makes a dozen. Owned by the task that set
    it: tasks it spawns (which copy the context) go back to the thread.
    """
    token = _INLINE.set(asyncio.current_task())
    try:
        yield
    finally:
        _INLINE.reset(token)


@contextmanager
def off_loop() -> Iterator[None]:
    """Statements here go to aiosqlite's thread even inline: long ones must not stall the loop."""
    token = _OFF_LOOP.set(True)
    try:
        yield
    finally:
        _OFF_LOOP.reset(token)


class LoopConnection(aiosqlite.Connection):
    """aiosqlite's connection, whose statements may also run on the event loop's thread.

    Inline only in `inline_statements()` and outside `off_loop()`, and only while nothing is
    queued for or running in aiosqlite's thread: the sqlite3 connection is never used by both
    threads at once, and statements keep their order. Every other call goes to the thread.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._in_thread = 0  # calls queued for or running in aiosqlite's thread
        self._checkpointed = 0  # total_changes at the last checkpoint

    def _here(self) -> bool:
        """Whether the current call may run on the loop's thread (see the class)."""
        if self._in_thread or _OFF_LOOP.get():
            return False
        inline = _INLINE.get()
        return inline is not None and inline is asyncio.current_task()

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._here():
            return await self._threaded(fn, *args, **kwargs)
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def fetch_rows(self, sql: str, parameters: tuple[Any, ...]) -> list[Any]:
        """execute_fetchall's rows, without its awaitable wrapper when the statement runs here
        (the store's reads and one-statement writes: several per update)."""
        if not self._here():
            return list(await self._threaded(self._execute_fetchall, sql, parameters))
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return self._connection.execute(sql, parameters).fetchall()

    async def _threaded(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        loop = asyncio.get_running_loop()

        def run() -> Any:
            # Counted down once the thread is done with it, not when the caller stops waiting
            # (a cancelled caller leaves the statement running).
            try:
                return fn(*args, **kwargs)
            finally:
                loop.call_soon_threadsafe(self._thread_done)

        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        self._in_thread += 1  # queued right below, without a pause: the thread counts it down
        return await super()._execute(run)

    def _thread_done(self) -> None:
        self._in_thread -= 1

    def checkpoint_due(self) -> bool:
        """Whether CHECKPOINT_ROWS rows were written since the last checkpoint (then reset)."""
        if self._in_thread or self._connection is None:
            return False  # reading the count would wait for the thread: next time
        changes = self._connection.total_changes
        if changes - self._checkpointed < CHECKPOINT_ROWS:
            return False
        self._checkpointed = changes
        return True


async def connect_writer(path: str) -> LoopConnection:
    """The store's read-write connection (usable from the loop's thread: LoopConnection)."""
    db = LoopConnection(
        lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    )
    await db  # starts aiosqlite's thread, which opens the file
    return db
