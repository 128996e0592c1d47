"""An update's own statements run on the event loop's thread; every other one in aiosqlite's."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from telegram import Update

from bot.store import Store
from bot.store.connection import CHECKPOINT_ROWS, LoopConnection, inline_statements, off_loop
from bot.store.core import WAL_LIMIT
from bot.telegram.intake import IntakeProcessor

LOOP = threading.get_ident()  # pytest-asyncio runs the loop in the main thread


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / "aimant.sqlite3")
    await store._db.create_function("thread", 0, threading.get_ident)
    await store._db.create_function("nap", 1, lambda s: time.sleep(s) or s)
    yield store
    await store.close()


def traced(store: Store) -> list[tuple[int, str]]:
    """(thread, SQL) of every statement the store's connection runs from now on."""
    seen: list[tuple[int, str]] = []
    assert isinstance(store._db, LoopConnection) and store._db._connection is not None
    store._db._connection.set_trace_callback(lambda sql: seen.append((threading.get_ident(), sql)))
    return seen


async def thread_of(store: Store) -> int:
    row = await store._one("SELECT thread() AS t")
    assert row is not None
    return int(row["t"])


async def test_inline_only_for_the_task_that_asked_not_for_what_it_spawns(store: Store) -> None:
    assert await thread_of(store) != LOOP  # outside an update: aiosqlite's thread, as ever
    with inline_statements():
        assert await thread_of(store) == LOOP
        spawned = await asyncio.create_task(thread_of(store))  # copies the context
        assert spawned != LOOP
        with off_loop():
            assert await thread_of(store) != LOOP
        assert await thread_of(store) == LOOP
    assert await thread_of(store) != LOOP


async def test_a_long_statement_in_the_thread_never_stalls_the_loop_nor_overlaps(
    store: Store,
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    ticker = asyncio.create_task(tick())
    order: list[str] = []

    async def long() -> None:
        await store._one("SELECT nap(0.3)")
        order.append("long")

    with inline_statements():
        background = asyncio.create_task(long())
        await asyncio.sleep(0.05)  # the long one is running in the thread
        # Queued behind it (not run on the loop meanwhile): in order, and the loop stays free.
        assert await thread_of(store) != LOOP
        order.append("inline")
        await background
        assert await thread_of(store) == LOOP  # the thread is idle again: back on the loop
    ticker.cancel()
    assert order == ["long", "inline"]
    assert ticks >= 15


async def test_a_cancelled_caller_leaves_the_thread_busy_until_its_statement_ends(
    store: Store,
) -> None:
    with inline_statements():
        caller = asyncio.create_task(store._one("SELECT nap(0.3)"))
        await asyncio.sleep(0.05)
        caller.cancel()
        began = time.monotonic()
        # Still running in the thread: this one waits for it instead of using the connection
        # from a second thread at once.
        assert await thread_of(store) != LOOP
        assert time.monotonic() - began >= 0.2


async def test_an_update_is_handled_with_inline_statements_and_marked_done(store: Store) -> None:
    processor = IntakeProcessor(4)
    processor.store = store
    seen = traced(store)

    async def handler() -> None:
        await store.leads.touch_visitor(
            7, first_name="Ada", last_name=None, username=None, language="en", source="flyer"
        )

    await processor.do_process_update(Update(update_id=41), handler())
    during = list(seen)
    assert await store.intake.is_done(41)
    assert await store.leads.get(7) is not None
    assert during and {thread for thread, _ in during} == {LOOP}
    assert any("INSERT INTO inbox" in sql for _, sql in during)  # the completion, inline too


async def test_checkpoints_run_in_the_thread_never_inside_a_commit(store: Store) -> None:
    rows = await store._all("PRAGMA wal_autocheckpoint")
    assert rows[0][0] == 0  # SQLite's own would run in whichever COMMIT crosses its mark
    seen = traced(store)
    # Checkpoints have a connection of their own (their fsyncs stall no statement): traced too.
    checkpointer = await store._checkpointer_db()
    assert checkpointer._connection is not None
    checkpointer._connection.set_trace_callback(
        lambda sql: seen.append((threading.get_ident(), sql))
    )
    with inline_statements():
        for first in range(0, CHECKPOINT_ROWS + 100, 100):
            await store.intake.save((i, None, "{}") for i in range(first, first + 100))
    assert store._checkpointing is not None  # a task of its own: no update waits for it
    await store._checkpointing
    checkpoints = [thread for thread, sql in seen if "wal_checkpoint" in sql]
    commits = [thread for thread, sql in seen if sql == "COMMIT"]
    assert checkpoints and LOOP not in checkpoints
    assert commits and set(commits) == {LOOP}


async def test_the_wal_stays_bounded_under_steady_writes(store: Store) -> None:
    """Checkpoints run while the writer goes on: the WAL is still restarted from the top (a
    write transaction only restarts a fully checkpointed WAL) and cut back to WAL_LIMIT."""
    assert store.path is not None
    wal = Path(f"{store.path}-wal")
    began = time.monotonic()
    update = peak = 0
    with inline_statements():
        while time.monotonic() - began < 3.0:  # thousands of one-row transactions, checkpoints
            update += 1
            await store.intake.save([(update, update, "x" * 300)])
            await asyncio.sleep(0)  # as updates do: the checkpoints' task gets its turns
            if update % 100 == 0:  # its peak: one checkpoint's worth of rows, whatever the time
                peak = max(peak, wal.stat().st_size)
    assert update >= 3 * CHECKPOINT_ROWS
    if store._checkpointing is not None:
        await store._checkpointing
    # The rows written since the last checkpoint began (up to one checkpoint's worth, more on
    # a loaded machine) are folded in too: only a fully checkpointed WAL is restarted.
    await store._checkpoint()
    await store.intake.save([(update + 1, 1, "{}")])  # restarts a fully checkpointed WAL
    assert wal.stat().st_size <= 2 * WAL_LIMIT + 1024 * 1024, (update, wal.stat().st_size)
    assert peak <= 16 * WAL_LIMIT, (update, peak)  # without the restarts: ~600 MB by now


async def test_the_export_is_read_in_the_thread_even_during_an_update(store: Store) -> None:
    for user in range(1, 4):
        await store.leads.touch_visitor(
            user, first_name="A", last_name=None, username=None, language="en", source=None
        )
    seen = traced(store)
    with inline_statements():
        rows = [row async for row in store.owner.export_rows()]
    assert len(rows) == 3
    export = [thread for thread, sql in seen if "FROM" in sql]
    assert export and LOOP not in export


async def test_an_inline_statement_gives_no_other_task_a_pass_of_the_loop(store: Store) -> None:
    """Deterministic: what runs between two statements of an update is that update alone."""
    ran: list[str] = []

    async def other() -> None:
        ran.append("other")

    with inline_statements():
        task = asyncio.create_task(other())
        for _ in range(5):
            await thread_of(store)
        assert ran == []
        await task
    assert ran == ["other"]
