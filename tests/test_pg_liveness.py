"""PostgreSQL that stops answering or dies under the running bot: the process always exits with
code 2 within seconds, with one CRITICAL line naming the database and its setting (never the
password), and no error traceback after it. The server is a test's own (it is frozen or
killed), never the session's."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.store import DatabaseGone, Store
from bot.store.pg import PgConnection, bounded
from tests.conftest import ROOT, unavailable
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD, PgServer, missing
from tests.test_e2e_kill import BotProcess, wait_for


@pytest.fixture
def own_server() -> Iterator[PgServer]:
    """A PostgreSQL server for this test alone (the session's one is never frozen)."""
    unavailable(missing())
    server = PgServer().start()
    try:
        yield server
    finally:
        thaw(server)
        server.stop()


def server_pids(server: PgServer) -> list[int]:
    """The postmaster (from postmaster.pid) and every process it started (from /proc)."""
    pid_file = server.data / "postmaster.pid"
    if not pid_file.exists():
        return []
    postmaster = int(pid_file.read_text().split()[0])
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        if int(stat.rpartition(")")[2].split()[1]) == postmaster:  # its parent's pid
            children.append(int(entry))
    return [postmaster, *children]


def signal_server(server: PgServer, sig: int) -> None:
    for pid in server_pids(server):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def thaw(server: PgServer) -> None:
    signal_server(server, signal.SIGCONT)


def bot_exit(tmp_path: Path, server: PgServer, sig: int) -> tuple[int, float, str]:
    """Start the bot on the server, let it answer a /start, then freeze (SIGSTOP) or kill
    (SIGKILL) the server and a prospect writes: the bot's exit code, seconds from the signal to
    its exit, its log."""
    fake = FakeTelegram()
    url = server.url(server.create_database())
    with FakeTelegramServer(fake) as api:
        bot = BotProcess(api, fake, tmp_path, DATABASE_URL=url, LOG_LEVEL="INFO")
        try:
            bot.start()  # polling: it leads
            fake.message(81, "/start flyer")
            wait_for(lambda: bool(fake.sent_to(81)))
            assert bot.proc is not None
            signalled = time.monotonic()
            signal_server(server, sig)
            fake.message(82, "/start")  # an update arriving while the database is gone
            code = bot.proc.wait(timeout=30)
            took = time.monotonic() - signalled
            log = (tmp_path / "bot-1.log").read_text()
        finally:
            bot.kill()
    return code, took, log


def assert_one_clear_line(log: str) -> str:
    critical = [line for line in log.splitlines() if " CRITICAL " in line]
    assert len(critical) == 1, critical
    line = critical[0]
    assert "lost the connection to the database postgresql://aimant@127.0.0.1:" in line, line
    assert "(setting DATABASE_URL)" in line and "stopping" in line, line
    after = log[log.index(line) :]
    assert " ERROR " not in after and "Traceback" not in after, after[-3000:]
    assert PASSWORD not in log
    return line


def test_a_frozen_server_stops_the_bot_with_2_within_seconds(
    own_server: PgServer, tmp_path: Path
) -> None:
    """SIGSTOP on the postmaster and its children: nothing answers, no connection is reset.
    The cluster's statements time out (5 s), every connection is dropped at once, the process
    exits 2 (it used to hang in the store's writes and in asyncpg's close forever)."""
    code, took, log = bot_exit(tmp_path, own_server, signal.SIGSTOP)
    assert code == 2, log[-3000:]
    line = assert_one_clear_line(log)
    assert "no answer within 5 s" in line, line
    assert took < 12, f"{took:.1f} s from SIGSTOP to exit"  # 5 s timeout + ~1 s ping
    assert "exiting now" not in log  # the clean stop, not the hard deadline


def test_a_killed_server_stops_the_bot_with_one_line_naming_the_database(
    own_server: PgServer, tmp_path: Path
) -> None:
    code, took, log = bot_exit(tmp_path, own_server, signal.SIGKILL)
    assert code == 2, log[-3000:]
    assert_one_clear_line(log)
    assert took < 8, f"{took:.1f} s from SIGKILL to exit"
    assert "sweep failed" not in log


async def test_a_statement_past_its_bound_loses_the_connection(pg_url: str) -> None:
    """A statement without an answer in time: the connection is dropped (a server that does not
    answer is not waited for), every statement on it raises DatabaseGone at once, the guard's
    look says why in words; a new store connects as usual."""
    store = await Store.open_postgres(pg_url)
    told: list[str] = []
    assert isinstance(store._db, PgConnection)
    store._db.on_lost.append(told.append)
    try:
        started = time.monotonic()
        with bounded(0.3), pytest.raises(DatabaseGone, match=r"no answer within 0\.3 s"):
            await store._db.execute_fetchall("SELECT pg_sleep(5)")
        assert time.monotonic() - started < 2
        assert told == ["no answer within 0.3 s"]
        with pytest.raises(DatabaseGone):
            await store.sessions.clear(1)
        problem = await store.connection_problem()
        assert problem is not None and "no answer within 0.3 s" in problem
        assert "(setting DATABASE_URL)" in problem and PASSWORD not in problem
    finally:
        await store.close()
    again = await Store.open_postgres(pg_url)
    await again.close()


async def test_a_lost_reader_is_replaced(pg_url: str) -> None:
    store = await Store.open_postgres(pg_url)
    try:
        reader = await store.reader()
        assert isinstance(reader._db, PgConnection)
        reader._db.abort()
        fresh = await store.reader()
        assert fresh is not reader
        assert await fresh._one("SELECT COUNT(*) FROM leads") is not None
    finally:
        await store.close()


async def test_closing_a_frozen_servers_connection_is_bounded(
    own_server: PgServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg's close waits, unbounded, for its cancel request to reach the server: a store
    or cluster connection whose statement timed out on a frozen server closes at once."""
    from bot.store import cluster

    monkeypatch.setattr(cluster, "TIMEOUT", 0.5)
    url = own_server.url(own_server.create_database())
    store = await Store.open_postgres(url)
    conn = await cluster.ClusterConnection.connect(url)
    signal_server(own_server, signal.SIGSTOP)
    try:
        with bounded(0.5), pytest.raises(DatabaseGone):
            await store.sessions.clear(1)
        with pytest.raises(TimeoutError):
            await conn.ping()
        started = time.monotonic()
        await asyncio.wait_for(store.close(), 2)
        await asyncio.wait_for(conn.close(), 2)
        assert time.monotonic() - started < 1
    finally:
        thaw(own_server)


def test_the_hard_deadline_exits_2_whatever_still_runs(tmp_path: Path) -> None:
    """A stop stuck for good (here: a blocked loop) after a fatal fault: the process exits 2."""
    script = (
        "import logging, time\n"
        "from bot.logs import configure_logging\n"
        "from bot.ops.guard import Guard\n"
        "configure_logging('INFO', ['hunter2'])\n"
        "guard = Guard(stop=lambda: None)\n"
        "guard.exit_after = 0.5\n"
        "guard.fail('the database hunter2 is gone')\n"
        "time.sleep(30)\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=20
    )
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 10
    assert "exiting now (exit code 2)" in done.stderr and "hunter2" not in done.stderr
    assert done.stderr.count(" CRITICAL ") == 1
