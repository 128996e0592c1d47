"""Through PgBouncer (tests/pgbouncer.py), as the README's "Several processes" allows.

Session mode: the store opens, migrates and serves the funnel; the cluster's connections
take the leader's lock, hear NOTIFYs, get their TCP keepalives (on the server's end of
PgBouncer's server connection; PgBouncer's own settings cover the bot's leg); two bot
processes elect one leader and answer /start, and a killed leader's lock goes with it.
Transaction mode: what breaks, and the bot refusing to start in one line.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from bot.store import Store
from bot.store.cluster import (
    KEEPALIVE,
    LEADER_LOCK,
    WORK_CHANNEL,
    ClusterConnection,
    keep_alive,
    own_sessions,
)
from bot.store.core import SessionError
from tests.cluster import ROOT, TOKEN, Cluster, Node, Poster, Replies, closes
from tests.conftest import Harness
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgbouncer import BOUNCER_KEEPALIVE, PgBouncer
from tests.pgserver import PASSWORD, PgServer
from tests.test_cluster import wait_async, wait_for
from tests.test_funnel import ADA, walk_to_pdf

RETRANSMIT, KEEPALIVE_TIMER = 1, 2  # /proc/net/tcp's `tr`: which timer a socket has pending


def _timer(local: int, remote: int) -> tuple[int, int]:
    """(`tr`, `tm->when` in clock ticks) of the TCP socket 127.0.0.1:local -> :remote."""
    ends = (f"0100007F:{local:04X}", f"0100007F:{remote:04X}")
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if (fields[1], fields[2]) == ends:
            timer, when = fields[5].split(":")
            return int(timer, 16), int(when, 16)
    raise AssertionError(f"no socket 127.0.0.1:{local} -> 127.0.0.1:{remote}")


def keepalive_due(local: int, remote: int, seconds: float = 2.0) -> float | None:
    """Seconds until the next keepalive probe of that socket, as the kernel shows it; None if
    it has none. With data not yet acknowledged it shows its retransmit timer instead: looked
    at again (a delayed ACK comes within 200 ms)."""
    deadline = time.monotonic() + seconds
    timer, when = _timer(local, remote)
    while timer == RETRANSMIT and time.monotonic() < deadline:
        time.sleep(0.05)
        timer, when = _timer(local, remote)
    return when / os.sysconf("SC_CLK_TCK") if timer == KEEPALIVE_TIMER else None


def direct(pg_server: PgServer, url: str) -> str:
    """The same database as `url`, reached without PgBouncer."""
    return pg_server.url(url.rsplit("/", 1)[1])


async def leader_locks(url: str) -> int:
    """How many sessions hold the leader's lock, as the server sees it."""
    conn = await asyncpg.connect(url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                " AND granted AND objid = $1",
                LEADER_LOCK & 0xFFFFFFFF,
            )
        )
    finally:
        await conn.close()


async def test_the_store_migrates_and_serves_the_funnel_through_pgbouncer(
    bot_with: Callable[..., Awaitable[Harness]], pgb_url: str
) -> None:
    bot = await bot_with(database_url=pgb_url)  # opened and migrated through it
    await walk_to_pdf(bot)
    assert bot.chat(ADA)[-2].document == "what-to-wear.en.pdf"
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and (lead.email, lead.stage.value) == ("ada@example.com", "lead")


async def test_pgbouncer_takes_application_name_and_refuses_server_settings_in_the_url(
    pgb_url: str,
) -> None:
    store = await Store.open_postgres(f"{pgb_url}?application_name=aimant-1")
    try:
        [row] = await store._db.execute_fetchall("SELECT current_setting('application_name')")
        assert row[0] == "aimant-1"
    finally:
        await store.close()
    for setting in ("statement_timeout=1000", "options=-c%20search_path%3Daimant"):
        with pytest.raises(asyncpg.ProtocolViolationError, match="unsupported startup"):
            await Store.open_postgres(f"{pgb_url}?{setting}")


async def test_the_cluster_keepalives_reach_the_servers_end_of_pgbouncer(
    pgb_url: str, pg_server: PgServer, pgbouncer: PgBouncer
) -> None:
    conn = await ClusterConnection.connect(pgb_url)
    try:
        for name, value in KEEPALIVE.items():  # connect's SET: PgBouncer passed it on
            assert await conn._val(f"SHOW {name}") == value
        assert await keep_alive(conn._conn)  # accepted again, no warning
        pooler_end = int(await conn._val("SELECT inet_client_port()"))  # the server's peer
        bot_end = int(conn._conn._transport.get_extra_info("sockname")[1])
        # The server's socket to PgBouncer probes after 5 s idle (the kernel's: 2 h) ...
        due = keepalive_due(pg_server.port, pooler_end)
        assert due is not None and due <= float(KEEPALIVE["tcp_keepalives_idle"])
        # ... PgBouncer's socket to the bot by PgBouncer's own tcp_keepidle; the bot's, never.
        due = keepalive_due(pgbouncer.port, bot_end)
        assert due is not None and due <= float(BOUNCER_KEEPALIVE["tcp_keepidle"])
        assert keepalive_due(bot_end, pgbouncer.port) is None
    finally:
        await conn.close()


async def test_the_leader_lock_and_notify_hold_through_pgbouncer(pgb_url: str) -> None:
    a = await ClusterConnection.connect(pgb_url)
    b = await ClusterConnection.connect(pgb_url)
    try:
        await own_sessions(a, b)  # session mode: two sessions of their own, no refusal
        assert await a.try_leader() and not await b.try_leader()
        heard = asyncio.Event()
        await a.listen(WORK_CHANNEL, lambda _: heard.set())
        await b.notify(WORK_CHANNEL)
        await asyncio.wait_for(heard.wait(), 5)
        a.abort()  # the process died: PgBouncer resets its server session, the lock goes
        await wait_async(b.try_leader, timeout=5)
    finally:
        await a.close()
        await b.close()


@pytest.fixture
def two_bots(tmp_path: Path, pgb_url: str) -> Iterator[tuple[FakeTelegram, Cluster]]:
    """Two `aimant` processes in webhook mode on one database through PgBouncer."""
    fake = FakeTelegram()
    fake.add_user(ADA)
    nodes = Cluster(fake, tmp_path, 2, {"DATABASE_URL": pgb_url})
    try:
        yield fake, nodes
    finally:
        nodes.close()


def leaders(nodes: list[Node]) -> list[str]:
    """The processes that logged being elected."""
    return [n.name for n in nodes if "is the leader" in n.logs()]


async def test_two_processes_through_pgbouncer_one_leader_then_its_successor(
    two_bots: tuple[FakeTelegram, Cluster], pgb_url: str, pg_server: PgServer
) -> None:
    fake, nodes = two_bots
    nodes.start()
    replies = Replies(fake, asyncio.get_running_loop())
    try:
        await wait_for(lambda: bool(leaders(nodes.nodes)), timeout=10)
        await asyncio.sleep(1.2)  # the other tried for the lead at least once
        [leader] = leaders(nodes.nodes)
        assert await leader_locks(direct(pg_server, pgb_url)) == 1
        async with httpx.AsyncClient(timeout=10) as client:
            poster = Poster(nodes.bases, client)
            for _ in nodes.nodes:  # round robin: each process takes one /start
                since = replies.count(ADA)
                await poster.post(fake.build_message(ADA, "/start"))
                await replies.until(ADA, closes("Hello Ada!"), since, timeout=15)
        dead = next(n for n in nodes.nodes if n.name == leader)
        dead.sigkill(fake.clock)  # PgBouncer sees its client go: the lock is released
        await wait_for(lambda: len(leaders(nodes.nodes)) == 2, timeout=10)
    finally:
        replies.close()
    assert set(nodes.stop().values()) == {0}
    for node in nodes.nodes:
        log = node.logs()
        assert "Traceback" not in log and PASSWORD not in log and TOKEN not in log, node.name


# --- Transaction mode: one server session for several clients in turn -----------------------


@pytest.fixture(scope="module")
def tx_bouncer(pgbouncer: PgBouncer, pg_server: PgServer) -> Iterator[PgBouncer]:
    """A second PgBouncer in front of the same server, in transaction mode."""
    with PgBouncer(pg_server, pool_mode="transaction") as bouncer:
        yield bouncer


@pytest.fixture
def tx_url(pg_server: PgServer, tx_bouncer: PgBouncer) -> Iterator[str]:
    with pg_server.fresh_database() as name:
        yield tx_bouncer.url(name)


async def test_in_transaction_mode_locks_are_shared_and_notifies_lost(tx_url: str) -> None:
    a = await ClusterConnection.connect(tx_url)
    b = await ClusterConnection.connect(tx_url)
    try:
        assert await a.backend() == await b.backend()  # one server session, both clients
        assert await a.try_leader() and await b.try_leader()  # two leaders
        heard = asyncio.Event()
        await a.listen(WORK_CHANNEL, lambda _: heard.set())
        await b.notify(WORK_CHANNEL)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(heard.wait(), 1)
        with pytest.raises(SessionError, match="pool_mode = transaction"):
            await own_sessions(a, b)
    finally:
        await a.close()
        await b.close()


def test_the_bot_refuses_to_start_through_a_transaction_mode_pooler(
    tmp_path: Path, tx_url: str
) -> None:
    begun = time.monotonic()
    with FakeTelegramServer(FakeTelegram()) as server:
        env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "BOT_API_URL": server.base_url,
            "DATABASE_URL": tx_url,
            "CATALOGUE_PATH": str(ROOT / "magnets" / "catalogue.toml"),
            "TEXTS_DIR": str(ROOT / "magnets" / "texts"),
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line and " INFO " not in line]
    assert done.returncode == 2, done.stderr[-3000:]
    assert len(lines) == 1 and "pool_mode = transaction" in lines[0], done.stderr[-3000:]
    assert "(setting DATABASE_URL)" in lines[0] and PASSWORD not in done.stderr
    assert "Traceback" not in done.stderr and time.monotonic() - begun < 30
