"""An update's writes are one unit: committed before each Bot API request and at its end."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.store import Store
from bot.store.connection import LoopConnection, inline_statements
from bot.store.core import Event
from bot.telegram.intake import IntakeProcessor
from tests.conftest import Harness

DB = "aimant.sqlite3"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await Store.open(tmp_path / DB)
    yield store
    await store.close()


def traced(store: Store) -> list[str]:
    """The SQL of every statement the store's connection runs from now on."""
    seen: list[str] = []
    assert isinstance(store._db, LoopConnection) and store._db._connection is not None
    store._db._connection.set_trace_callback(seen.append)
    return seen


def durable(path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows as another process would read them (a second connection: committed data only)."""
    with closing(sqlite3.connect(path)) as db:
        return list(db.execute(sql, params))


def processor_for(store: Store) -> IntakeProcessor:
    processor = IntakeProcessor(4)
    processor.store = store
    return processor


async def visit(store: Store, user: int) -> None:
    await store.leads.touch_visitor(
        user, first_name="Ada", last_name=None, username=None, language="en", source="flyer"
    )


async def test_an_updates_writes_are_one_commit_with_its_completion(store: Store) -> None:
    seen = traced(store)

    async def handler() -> None:
        await visit(store, 7)  # a transaction of its own outside an update
        await store.leads.request_magnet(7, "what-to-wear", None)
        await store.intake.save([(99, 7, "{}")])

    await processor_for(store).do_process_update(Update(update_id=41), handler())
    commits = [i for i, sql in enumerate(seen) if sql == "COMMIT"]
    completion = [i for i, sql in enumerate(seen) if sql.startswith("INSERT INTO inbox")]
    assert len(commits) == 1 and completion and completion[0] < commits[0]
    assert durable(store.path, "SELECT user_id FROM leads") == [(7,)]  # type: ignore[arg-type]
    assert await store.intake.is_done(41)


async def test_a_crash_between_two_writes_of_an_update_leaves_neither(store: Store) -> None:
    async def handler() -> None:
        await visit(store, 7)
        raise RuntimeError("the handler died")

    with pytest.raises(RuntimeError, match="the handler died"):
        await processor_for(store).do_process_update(Update(update_id=41), handler())
    assert await store.leads.get(7) is None
    assert not await store.intake.is_done(41)
    assert await store.count_events(Event.START) == 0
    await visit(store, 8)  # the write lock was given back
    assert await store.leads.get(8) is not None


async def test_a_failed_transaction_inside_an_update_undoes_only_itself(store: Store) -> None:
    async def handler() -> None:
        await visit(store, 7)
        with pytest.raises(sqlite3.IntegrityError):
            async with store._tx() as db:
                await db.execute("INSERT INTO inbox (update_id, received_at) VALUES (5, 0)")
                await db.execute("INSERT INTO inbox (update_id, received_at) VALUES (5, 0)")

    await processor_for(store).do_process_update(Update(update_id=41), handler())
    assert await store.leads.get(7) is not None
    assert durable(store.path, "SELECT update_id FROM inbox") == [(41,)]  # type: ignore[arg-type]


async def test_another_writer_commits_a_unit_whose_owner_waits_on_it(store: Store) -> None:
    """The owner of an open unit awaits a task that writes: that write goes first, no deadlock."""

    async def handler() -> None:
        await visit(store, 7)
        await asyncio.wait_for(asyncio.create_task(visit(store, 8)), 5)

    await processor_for(store).do_process_update(Update(update_id=41), handler())
    users = durable(store.path, "SELECT user_id FROM leads ORDER BY user_id")  # type: ignore[arg-type]
    assert users == [(7,), (8,)]


async def test_a_checkpoint_inside_an_update_commits_its_writes_first(store: Store) -> None:
    with inline_statements():
        async with store.unit():
            await visit(store, 7)
            await asyncio.wait_for(store.checkpoint(), 5)
            assert durable(store.path, "SELECT user_id FROM leads") == [(7,)]  # type: ignore[arg-type]


async def test_writes_are_durable_before_the_next_bot_api_request_leaves(bot: Harness) -> None:
    path = bot.svc.settings.database_path
    leads_seen: list[list[tuple[Any, ...]]] = []
    arrive = bot.fake.arrive

    def arriving(method: str, params: Mapping[str, Any]) -> float:
        if method == "sendMessage" and params.get("chat_id") in (4242, "4242"):
            leads_seen.append(durable(path, "SELECT user_id FROM leads WHERE user_id = 4242"))
        return arrive(method, params)

    bot.fake.arrive = arriving  # type: ignore[method-assign]
    bot.fake.add_user(4242, first_name="Ada")
    await bot.text(4242, "/start what-to-wear")
    assert leads_seen and leads_seen[0] == [(4242,)]


async def test_another_task_reads_an_open_unit_only_once_it_is_committed(store: Store) -> None:
    """What another task reads, and may act on, can no longer be undone by a crash."""
    assert store.path is not None
    path = store.path

    async def other() -> list[tuple[Any, ...]]:
        assert await store.leads.get(7) is not None
        return durable(path, "SELECT user_id FROM leads")

    with inline_statements():
        async with store.unit():
            await visit(store, 7)
            assert durable(path, "SELECT user_id FROM leads") == []  # still open
            assert await asyncio.create_task(other()) == [(7,)]
