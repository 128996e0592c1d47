"""The SQL of several Aimant processes on one PostgreSQL database (shared mode).

Each process keeps two connections of its own beside the store's: a session advisory lock
lives and dies with its connection, so a dead process's locks are released by PostgreSQL.

- the leader's connection: `pg_try_advisory_lock(LEADER_LOCK)` (one bigint key: the elected
  sender and poller), LISTEN `aimant_work` (a follower created work for the senders);
- the dispatcher's connection: one two-key lock per person (`pg_try_advisory_lock(hi, lo)`,
  a keyspace apart from the one-key locks), LISTEN `aimant_inbox` (an update was stored), and
  the inbox's heads: each person's earliest update not handled yet.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import asyncpg

from bot.store.core import SessionError
from bot.store.intake import INBOX_CHANNEL, person_key

log = logging.getLogger(__name__)

LEADER_LOCK = 0x41494D414E55  # "AIMANT" + 1 (the migration lock, bot.store.core: + 2)
WORK_CHANNEL = "aimant_work"
__all__ = ["INBOX_CHANNEL", "LEADER_LOCK", "WORK_CHANNEL", "ClusterConnection", "person_key"]
TIMEOUT = 5.0  # seconds for one statement on these connections; longer: treated as lost
# The server cancels a statement past this (a wait for a lock on the inbox, e.g. a VACUUM FULL
# of it, included): a QueryCanceledError the dispatcher backs off from and retries, the
# connection and its locks kept, instead of TIMEOUT dropping it and the process with it.
SERVER_SECONDS = 4.0
# The server's side: a client that vanished (machine dead, network cut) is dropped, its locks
# with it, in about 11 s (5 s idle, then 3 probes 2 s apart; 10 s for data left unacknowledged),
# not after the kernel's defaults (~2 h idle, ~15 min of retransmissions). All are settable by
# any user, per session (PostgreSQL 12+); over a unix socket they do not apply (nothing to lose).
# Set after connecting, not as start-up parameters: a pooler (PgBouncer) refuses those it does
# not know; through one they apply between the pooler and the server.
KEEPALIVE = {
    "tcp_keepalives_idle": "5",
    "tcp_keepalives_interval": "2",
    "tcp_keepalives_count": "3",
    "tcp_user_timeout": "10000",
}

# Each person's earliest pending update, unless some process (this one too) holds the person:
# a two-key advisory lock shows in pg_locks as classid (high half) and objid (low half).
_HEADS = (
    "WITH held AS (SELECT (classid::bigint << 32) | objid::bigint AS k FROM pg_locks"
    " WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))"
    " SELECT k, update_id FROM ("
    " SELECT DISTINCT ON (k) k, update_id FROM ("
    "  SELECT COALESCE(user_id, -update_id) AS k, update_id FROM inbox"
    "  WHERE done_at IS NULL AND payload IS NOT NULL) pending"
    " ORDER BY k, update_id) heads"
    " WHERE k NOT IN (SELECT k FROM held) ORDER BY update_id LIMIT $1"
)
_PERSON = "(user_id = $1 OR (user_id IS NULL AND update_id = -$1))"
_EARLIEST = (
    "SELECT update_id, payload FROM inbox WHERE done_at IS NULL AND payload IS NOT NULL"
    f" AND {_PERSON} ORDER BY update_id LIMIT 1"
)
# One round trip: the person's lock if free, and then (only then) their earliest update.
_TAKE = (
    "WITH lock AS (SELECT pg_try_advisory_lock($2, $3) AS got)"
    " SELECT lock.got, head.update_id, head.payload FROM lock"
    f" LEFT JOIN LATERAL ({_EARLIEST}) head ON lock.got"
)
# One round trip: the person's next update if any (the lock kept), else the lock released.
_NEXT = (
    f"WITH head AS ({_EARLIEST})"
    " SELECT head.update_id, head.payload,"
    " CASE WHEN head.update_id IS NULL THEN pg_advisory_unlock($2, $3) END AS released"
    " FROM (SELECT 1) one LEFT JOIN head ON true"
)


async def keep_alive(conn: asyncpg.Connection) -> bool:
    """Ask the server for KEEPALIVE on this connection's session; False (logged once per
    connection) if it refused them: a vanished machine's locks then go after the kernel's
    defaults."""
    sql = "; ".join(f"SET {name} = {value}" for name, value in KEEPALIVE.items())
    try:
        await conn.execute(sql, timeout=TIMEOUT)
    except asyncpg.PostgresError as exc:
        log.warning(
            "cluster: the server refused the TCP keepalive settings (%s: %s): a vanished"
            " machine's locks may be held until the kernel gives its connection up",
            type(exc).__name__, exc,
        )  # fmt: skip
        return False
    return True


async def own_sessions(lead: ClusterConnection, inbox: ClusterConnection) -> None:
    """Raise SessionError unless the two connections are two server sessions, each kept: a
    pooler in transaction or statement mode serves several clients by one session in turn,
    so a lock or LISTEN of one client is another's (two leaders, NOTIFYs lost). Never wrong
    when it raises (two open sessions never share a server process); a busy pooler may hide
    it."""
    first, other, again = await lead.backend(), await inbox.backend(), await lead.backend()
    if first == other or first != again:
        raise SessionError(
            "two connections of this process were served by one server session in turn:"
            " a pooler in transaction or statement mode in between (PgBouncer's"
            " pool_mode = transaction)? Aimant's advisory locks and LISTEN need their own"
            " sessions: connect directly or through a pooler in session mode"
        )


def halves(key: int) -> tuple[int, int]:
    """A 64-bit key as the two signed 32-bit keys of pg_try_advisory_lock(int, int)."""
    high, low = key >> 32, key & 0xFFFFFFFF
    return high, low - (1 << 32) if low >= 1 << 31 else low


def _update(row: asyncpg.Record) -> tuple[int, str] | None:
    """(update id, JSON) of a row's head, if it has one."""
    if row["update_id"] is None:
        return None
    return int(row["update_id"]), str(row["payload"])


class ClusterConnection:
    """One dedicated asyncpg connection: advisory locks, LISTEN/NOTIFY and the inbox's heads."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn
        self._turn = asyncio.Lock()  # asyncpg runs one statement at a time per connection
        self.answered = time.monotonic()  # when a statement last came back

    @classmethod
    async def connect(cls, dsn: str) -> ClusterConnection:
        """Connect (a postgresql:// URL), the server told to drop it soon if this end vanishes.
        asyncpg's own bound (command_timeout) also bounds the cancel request it sends after a
        timeout, which would otherwise wait forever for a server that does not answer."""
        conn = await asyncpg.connect(dsn, timeout=TIMEOUT, command_timeout=TIMEOUT)
        try:
            await keep_alive(conn)
            # SET, not a start-up parameter: PgBouncer refuses those.
            await conn.execute(f"SET statement_timeout = {round(SERVER_SECONDS * 1000)}")
        except BaseException:
            conn.terminate()
            raise
        return cls(conn)

    async def _run(self, method: str, sql: str, *params: Any) -> Any:
        """One statement; TimeoutError after TIMEOUT, waiting for the connection included:
        the connection is then dropped (lost: its locks may go any moment)."""
        try:
            async with asyncio.timeout(TIMEOUT), self._turn:
                result = await getattr(self._conn, method)(sql, *params)
        except TimeoutError:
            self._conn.terminate()  # never waits for a server that does not answer
            raise
        self.answered = time.monotonic()
        return result

    async def _val(self, sql: str, *params: Any) -> Any:
        return await self._run("fetchval", sql, *params)

    async def backend(self) -> int:
        """The server process serving this connection's session now (pg_backend_pid)."""
        return int(await self._val("SELECT pg_backend_pid()"))

    async def try_leader(self) -> bool:
        """Take the leader's lock if nobody holds it (held until this connection ends)."""
        return bool(await self._val("SELECT pg_try_advisory_lock($1)", LEADER_LOCK))

    async def release_leader(self) -> None:
        """Give the leader's lock up (a process stopping before it led)."""
        await self._val("SELECT pg_advisory_unlock($1)", LEADER_LOCK)

    async def ping(self) -> None:
        """A round trip: raises if the connection (and so any lock it holds) is gone."""
        await self._val("SELECT 1")

    async def release_person(self, key: int, announce: bool = False) -> None:
        """Let other processes have this person again (`announce`: a NOTIFY of their key
        wakes the other dispatchers, for updates of theirs still pending)."""
        if announce:
            await self._val(
                "SELECT pg_advisory_unlock($1, $2), pg_notify($3, $4)",
                *halves(key), INBOX_CHANNEL, str(key),
            )  # fmt: skip
        else:
            await self._val("SELECT pg_advisory_unlock($1, $2)", *halves(key))

    async def heads(self, limit: int) -> list[tuple[int, int]]:
        """(key, update id) of free persons' earliest pending updates, oldest first."""
        rows = await self._run("fetch", _HEADS, limit)
        return [(int(r["k"]), int(r["update_id"])) for r in rows]

    async def take(self, key: int) -> tuple[bool, tuple[int, str] | None]:
        """Whether the person's lock was taken, and if so their earliest pending update
        (id, JSON), read under the lock; the caller releases a lock taken for nothing."""
        row = await self._run("fetchrow", _TAKE, key, *halves(key))
        if row is None or not row["got"]:
            return False, None
        return True, _update(row)

    async def earliest(self, key: int) -> tuple[int, str] | None:
        """The person's earliest pending update (id, JSON); the lock, held, is kept either way."""
        row = await self._run("fetchrow", _EARLIEST, key)
        return None if row is None else _update(row)

    async def next_or_release(self, key: int) -> tuple[int, str] | None:
        """The person's next pending update, the lock kept for it; else the lock released."""
        row = await self._run("fetchrow", _NEXT, key, *halves(key))
        return None if row is None else _update(row)

    async def listen(self, channel: str, heard: Callable[[str], None]) -> None:
        """Call `heard(payload)` on every NOTIFY on this channel (any process's, this one's)."""
        async with asyncio.timeout(TIMEOUT), self._turn:
            await self._conn.add_listener(channel, lambda *args: heard(str(args[-1])))

    async def notify(self, channel: str) -> None:
        """Wake whoever listens on this channel."""
        await self._val("SELECT pg_notify($1, '')", channel)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call `callback` if the server ends this connection (its locks are gone with it)."""
        self._conn.add_termination_listener(lambda *_: callback())

    def is_closed(self) -> bool:
        return bool(self._conn.is_closed())

    def abort(self) -> None:
        """Drop the connection at once: the server releases its locks."""
        self._conn.terminate()

    async def close(self) -> None:
        """Close (the server releases every lock this connection held), within TIMEOUT; else
        dropped (asyncpg's close first waits, unbounded, for a cancel request to go out)."""
        if self._conn.is_closed():
            return
        try:
            await asyncio.wait_for(self._conn.close(), TIMEOUT)
        except Exception:
            self._conn.terminate()
