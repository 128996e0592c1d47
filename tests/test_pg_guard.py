"""PostgreSQL going away while the bot runs: the guard notices the lost connection and stops
the process with one clear line and exit code 2 (a supervisor starts it again), instead of
every update failing on its own. Each test has a server of its own, since it is stopped."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest

from bot.ops.checks import postgres_problem
from bot.ops.guard import Guard, watch
from bot.settings import Settings
from bot.store import Store
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD, PgServer, missing
from tests.test_e2e_kill import BotProcess, wait_for


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A PostgreSQL server for this test alone (the session's one is never stopped)."""
    if missing():
        pytest.skip(missing() or "")  # conftest's pg_server fails instead under CI's flag
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


def _stop(server: PgServer) -> None:
    """Stop the server (fast shutdown: clients are disconnected), keeping its files."""
    assert server.bin is not None
    done = server._run(str(server.bin / "pg_ctl"), "-D", str(server.data), "-m", "fast", "-w",
                       "stop")  # fmt: skip
    assert done.returncode == 0, done.stderr


async def test_the_guard_stops_the_bot_when_postgresql_goes_away(
    own_server: PgServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = own_server.url(own_server.create_database())
    store = await Store.open_postgres(url)
    stops: list[bool] = []
    guard = Guard(stop=lambda: stops.append(True))
    svc: Any = SimpleNamespace(store=store)
    try:
        await watch(svc, None, guard)  # type: ignore[arg-type]
        assert guard.fatal is None and not stops
        _stop(own_server)
        with caplog.at_level(logging.INFO):
            started = time.monotonic()
            await watch(svc, None, guard)  # type: ignore[arg-type]
            await watch(svc, None, guard)  # type: ignore[arg-type]  # once only
        assert time.monotonic() - started < 5
    finally:
        await store.close()
    assert stops == [True]
    lines = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1, lines
    line = lines[0].getMessage()
    assert "lost the connection to the database postgresql://aimant@127.0.0.1:" in line
    assert "setting DATABASE_URL" in line and "stopping" in line
    assert PASSWORD not in line
    # Started again by its supervisor while the server is still down: one line, no start.
    refused = await postgres_problem(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    assert refused is not None and "cannot use the database postgresql://aimant@" in refused
    assert PASSWORD not in refused


def test_the_bot_as_a_process_exits_with_2_when_postgresql_stops(
    own_server: PgServer, tmp_path: Path
) -> None:
    fake = FakeTelegram()
    url = own_server.url(own_server.create_database())
    with FakeTelegramServer(fake) as api:
        bot = BotProcess(api, fake, tmp_path, DATABASE_URL=url, LOG_LEVEL="INFO")
        try:
            bot.start()
            fake.message(81, "/start flyer")
            wait_for(lambda: bool(fake.sent_to(81)))
            _stop(own_server)
            assert bot.proc is not None
            bot.proc.wait(timeout=30)
            log = (tmp_path / "bot-1.log").read_text()
        finally:
            bot.kill()
    assert bot.proc.returncode == 2, log[-3000:]
    critical = [line for line in log.splitlines() if " CRITICAL " in line]
    assert len(critical) == 1, critical
    # The store's connection (this guard) or the cluster's lock connection, whichever notices
    # first: one line either way.
    assert "connection" in critical[0] and "database" in critical[0], critical
    assert PASSWORD not in log


async def test_a_failed_statement_is_not_a_lost_connection(pg_url: str) -> None:
    """The guard's ping may land inside a transaction a failed statement aborted: that
    connection is fine, the process goes on."""
    store = await Store.open_postgres(pg_url)
    try:
        async with store._tx() as db:
            with pytest.raises(asyncpg.PostgresError):
                await db.execute("INSERT INTO leads (user_id) VALUES (1)")  # NOT NULL columns
            assert await store.connection_problem() is None
        assert await store.connection_problem() is None
        assert await store.sessions.clear(1) is False  # and the store goes on
    finally:
        await store.close()
