# ruff: noqa: F811  (the cluster test takes test_cluster's `nodes` fixture, imported here)
"""A healthy but busy PostgreSQL never stops the bot: a long /export runs on the reader and the
guard's ping bounds its round trip only; another session's lock (a VACUUM FULL, LOCK TABLE,
a newer version's migration) makes the server cancel the blocked statement, which fails alone.
The bounds are scaled down (the real ones: bot.store.pg, bot.store.cluster, bot.store.core)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest

import bot.store.cluster as pg_cluster
import bot.store.core as core
import bot.store.pg as pg
from bot.owner.export import export_csv
from bot.store import Store
from bot.store.core import server_cancelled
from tests.fakeapi import FakeTelegram
from tests.test_cluster import Node, nodes, wait_async, wait_for  # noqa: F401

ADA = 1001


@asynccontextmanager
async def locked(url: str, table: str) -> AsyncIterator[None]:
    """Another session holds `table` as a VACUUM FULL does (ACCESS EXCLUSIVE) meanwhile."""
    other = await asyncpg.connect(url)
    try:
        await other.execute(f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield
        await other.execute("COMMIT")
    finally:
        await other.close()


async def test_a_long_export_holds_neither_the_connection_nor_the_guards_ping(
    pg_url: str, bot_with: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "PING_SECONDS", 0.3)
    harness = await bot_with(database_url=pg_url)
    store = harness.svc.store
    # A statement longer than the ping's bound holds the connection's turn: the ping waits
    # for it, then answers at once (its bound is its own round trip).
    slow = asyncio.create_task(store._db.execute_fetchall("SELECT pg_sleep(1)"))
    await asyncio.sleep(0.1)
    assert await store.connection_problem() is None
    await slow
    ran: list[tuple[pg.PgConnection, str]] = []
    call = pg.PgConnection._call

    async def spy(self: pg.PgConnection, method: str, *args: Any) -> Any:
        ran.append((self, str(args[0])))
        return await call(self, method, *args)

    monkeypatch.setattr(pg.PgConnection, "_call", spy)
    data, count = await export_csv(harness.svc)
    assert count == 0 and data.startswith("\ufeff".encode())
    reader = (await store.reader())._db
    assert reader is not store._db
    exports = [conn for conn, sql in ran if "AS lead_at" in sql]  # the export's query (_EXPORT)
    assert exports and all(conn is reader for conn in exports), ran  # on the reader alone


async def test_a_lock_on_leads_past_the_ping_fails_the_write_alone(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg, "SERVER_SECONDS", 1.0)  # real: 25 s, under the 30 s bound
    monkeypatch.setattr(core, "PING_SECONDS", 0.5)
    store = await Store.open_postgres(pg_url)
    lost: list[str] = []
    store._db.on_lost.append(lost.append)
    write = "UPDATE leads SET first_name = 'x' WHERE user_id = 1"
    try:
        async with locked(pg_url, "leads"):
            started = time.monotonic()
            blocked = asyncio.create_task(store._db.execute_fetchall(write))
            await asyncio.sleep(0.1)
            assert await store.connection_problem() is None  # the guard waits its turn
            with pytest.raises(asyncpg.PostgresError) as cancelled:
                await blocked
            assert server_cancelled(cancelled.value)
            assert 0.9 < time.monotonic() - started < 2
            again = asyncio.create_task(store._db.execute_fetchall(write))  # once the lock goes
            await asyncio.sleep(0.3)
        await again
        assert await store.connection_problem() is None and not lost
    finally:
        await store.close()


async def test_an_update_blocked_by_a_lock_is_left_pending_with_one_warning(
    pg_url: str, bot_with: Any, fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    monkeypatch.setattr(pg, "SERVER_SECONDS", 1.0)
    harness = await bot_with(database_url=pg_url)
    store = harness.svc.store
    fake.add_user(ADA, first_name="Ada")
    start = fake.build_message(ADA, "/start")
    with caplog.at_level(logging.WARNING):
        async with locked(pg_url, "leads"):
            await harness.send(start)
    assert [server_cancelled(e) for e in harness.errors] == [True]
    harness.errors.clear()
    lines = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(lines) == 1 and lines[0].levelno == logging.WARNING, lines
    assert "handled again later: the database cancelled a statement" in lines[0].getMessage()
    assert not await store.intake.is_done(start["update_id"])  # pending, not lost
    assert not fake.sent_to(ADA)  # no "something went wrong": she gets her answer later
    await harness.send(start)  # as replayed, the lock gone
    assert await store.intake.is_done(start["update_id"])
    assert await store.leads.get(ADA) is not None and fake.sent_to(ADA)


async def test_the_dispatcher_survives_a_lock_on_the_inbox_past_its_bound(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(pg_cluster, "SERVER_SECONDS", 0.5)  # real: 4 s, under the 5 s bound
    monkeypatch.setattr(pg_cluster, "TIMEOUT", 1.0)
    a = await nodes("a")
    assert a.cluster.dispatcher is not None
    fake.add_user(ADA, first_name="Ada")
    raw = fake.build_message(ADA, "/start")
    async with locked(pg_url, "inbox"):
        a.cluster.dispatcher.heard("")  # a look at the whole inbox: blocked, then cancelled
        await asyncio.sleep(2.5)
    assert not a.cluster.dispatcher.conn.is_closed()
    await a.svc.store.intake.save([(raw["update_id"], ADA, json.dumps(raw))])

    async def handled() -> bool:
        return await a.svc.store.intake.pending_count() == 0

    await wait_async(handled)
    assert fake.sent_to(ADA) and not a.errors
