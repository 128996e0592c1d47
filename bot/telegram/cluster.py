"""Several Aimant processes on one PostgreSQL database: one elected sender, one shared inbox.

Shared mode (DATABASE_URL with `aimant run`) runs two things in every process, each on a
PostgreSQL connection of its own (bot.store.cluster), whose advisory locks die with it:

- `Leadership`: every process tries the leader's lock every second. Its holder alone polls
  Telegram (polling mode) and sends tips, broadcasts, mails, CRM events and team-inbox copies,
  so BULK_RATE holds for the bot as a whole; elected, it first picks up what the dead leader
  left, as a start does. Followers' senders stand by: work they create wakes the leader with a
  NOTIFY. The lock's connection lost: sending stops at once and the process stops (exit 2).
- `Dispatcher`: hands each person's earliest pending update from the shared inbox to PTB under
  that person's lock: each person's updates in order, once, by one process at a time; a dead
  process's persons go to the others. Once a person has nothing pending, their lock is kept
  for LINGER more (no handling slot taken): their next update within it is handled by the same
  process, whose per-chat pacer knows the chat's last replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.settings import url_label
from bot.store import DatabaseGone, Store
from bot.store.cluster import (
    INBOX_CHANNEL,
    TIMEOUT,
    WORK_CHANNEL,
    ClusterConnection,
    own_sessions,
)
from bot.store.core import lost_line, server_cancelled
from bot.telegram.intake import Backoff, describe, set_aside
from bot.telegram.replies import CHAT_WINDOW, MARGIN

log = logging.getLogger(__name__)

ELECT_EVERY = 1.0  # seconds between two tries for the leader's lock
SWEEP_EVERY = 1.0  # seconds between two looks at the whole inbox, NOTIFYs or not
# Each connection proves itself alive this often (any statement counts; else a ping), each
# statement within TIMEOUT (5 s): a process cut off from the database stops within ~6 s,
# before the server drops its connections (~11 s, bot.store.cluster.KEEPALIVE) and so before
# another process can have its locks.
PING_EVERY = 1.0
# A person's lock is kept this long after their last pending update is done: the per-chat
# pacer (bot.telegram.replies) counts a chat's replies over CHAT_WINDOW + MARGIN, so once that
# has passed since this process's last reply, another process's first reply is in no rolling
# window with it. A quicker next update stays here, where the pacer spaces it.
LINGER = CHAT_WINDOW + MARGIN


def failure(exc: BaseException) -> str:
    """Why a statement on a cluster connection failed, in words (a timeout has no message)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT:g} s"
    return describe(exc).rstrip(": ")


Hook = Callable[[], Awaitable[None]]
Sweep = Callable[[bool], Awaitable[None]]  # told whether a NOTIFY (new work) woke it
AnyApp = Application[Any, Any, Any, Any, Any, Any]


class Dispatcher:
    """Hands pending updates of the shared inbox to PTB, one person at a time, in order."""

    def __init__(
        self, app: AnyApp, store: Store, conn: ClusterConnection, limit: int,
        lost: Callable[[str], None],
    ) -> None:  # fmt: skip
        self.app, self.store, self.conn, self.limit = app, store, conn, limit
        self._lost = lost
        self.held: dict[int, int] = {}  # update id handed to PTB -> its person's lock key
        self.handed = 0  # updates handed since start (tests, benches)
        self._arrived: set[int] = set()  # persons with a new update (NOTIFY, this webhook)
        # Persons heard of while held here: if their lock goes before the next update is seen
        # (read in the same instant it was committed), they are tried again at once.
        self._again: set[int] = set()
        self._finishing: set[int] = set()  # persons whose update is done, their next looked up
        # Persons kept (their lock held, nothing pending, no slot taken) -> until when.
        self._lingering: dict[int, float] = {}
        self._backlog = True  # pending updates may wait for a slot: read the inbox's heads
        self._swept_at = -SWEEP_EVERY  # when the whole inbox was last looked at
        # Persons whose update's handling failed (not marked done): left alone until then.
        self._resting: dict[int, float] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self._backoff = Backoff("the shared inbox")

    def heard(self, payload: str) -> None:
        """NOTIFY from whichever process stored updates: the persons' keys, comma-separated
        (none: too many to name, look at the whole inbox)."""
        try:
            keys = {int(k) for k in payload.split(",") if k}
        except ValueError:  # not ours: a look at the whole inbox
            keys = set()
        if not keys:  # the whole inbox, and the lingering persons: its heads skip them (held)
            self._backlog = True
            keys = set(self._lingering)
        self._arrived |= keys
        self._wake.set()

    def arrived(self, key: int) -> None:
        """This process stored an update of this person (before its NOTIFY comes back)."""
        self._arrived.add(key)
        self._wake.set()

    def stop(self) -> None:
        """Hand nothing more (what was handed is still handled and released; the lingering
        persons are released, announced, as the loop ends)."""
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Until stopped: a round at each wake-up, and every SWEEP_EVERY the whole inbox (also
        under a steady stream of NOTIFYs: a dead process's persons wait at most that long)."""
        while not self._stopping:
            left = min(self._swept_at + SWEEP_EVERY, self._expiry()) - time.monotonic()
            if left > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), left)
            self._wake.clear()
            if self._stopping:
                break
            try:
                sweep = self._backlog or time.monotonic() - self._swept_at >= SWEEP_EVERY
                if sweep:
                    self._swept_at = now = time.monotonic()
                    self._resting = {k: t for k, t in self._resting.items() if t > now}
                await self.round(sweep)
                if time.monotonic() - self.conn.answered >= PING_EVERY:  # all slots busy
                    await self.conn.ping()
            except Exception as exc:
                if self._stopping:  # lost, or stopping: nothing more to say
                    break
                if self.conn.is_closed() or isinstance(exc, TimeoutError):
                    self._lost(f"the shared inbox's connection failed ({failure(exc)})")
                    return
                self._backlog = True
                await asyncio.sleep(self._backoff.failed(exc))
                continue
            self._backoff.succeeded()
        await self._let_go()

    def _expiry(self) -> float:
        """When the first linger ends (monotonic; inf if none)."""
        return min(self._lingering.values(), default=math.inf)

    async def _let_go(self) -> None:
        """Stopping: release the lingering persons, announced so that the others take their
        next updates at once (a lost connection takes them with it)."""
        lingering, self._lingering = list(self._lingering), {}
        for key in lingering:
            if self.conn.is_closed():
                return
            try:
                await self.conn.release_person(key, announce=True)
            except Exception:  # the connection failed: its locks go with it
                return

    async def round(self, sweep: bool = True) -> int:
        """The persons just heard of, the lingering ones whose time is up, then (`sweep`) free
        persons' earliest updates, until `limit` updates are held; how many were handed."""
        handed = await self._arrivals()
        handed += await self._expire()
        if sweep and not self._stopping:
            handed += await self._heads()
        return handed

    async def _arrivals(self) -> int:
        """Try each person heard of (NOTIFY), unless handled here: their next follows here;
        a lingering person's earliest update is read under the lock kept (never taken again:
        the lock is reentrant, one unlock would not free it)."""
        handed = 0
        arrived, self._arrived = self._arrived, set()
        mine = set(self.held.values()) | self._finishing
        self._again |= arrived & mine
        waiting = list(arrived - mine)
        while waiting and not self._stopping:
            if len(self.held) >= self.limit:
                self._backlog = True  # some wait for a slot: the heads, once one is free
                self._arrived |= {k for k in waiting if k in self._lingering}  # heads skip them
                break
            key = waiting.pop()
            handed += await (self._look(key) if key in self._lingering else self._take(key))
        return handed

    async def _look(self, key: int) -> bool:
        """A lingering person was heard of: their earliest pending update, handed; none (the
        update was handled already): they linger on."""
        head = await self.conn.earliest(key)
        if head is None:
            return False
        del self._lingering[key]
        return await self._hand(key, *head)

    async def _expire(self) -> int:
        """Release the persons whose linger is over, in one round trip each that hands an
        update of theirs come meanwhile unseen instead (never stranded); no slot free: released,
        announced, for whoever has one."""
        handed, now = 0, time.monotonic()
        for key in [k for k, until in self._lingering.items() if until <= now]:
            if self._stopping:
                break
            del self._lingering[key]
            try:
                if len(self.held) >= self.limit:
                    await self.conn.release_person(key, announce=True)
                    continue
                head = await self.conn.next_or_release(key)
            except Exception as exc:
                await self._failed(key, exc)
                continue
            if head is not None:
                handed += await self._hand(key, *head)
        return handed

    async def _heads(self) -> int:
        """Free persons' earliest pending updates (the whole inbox), oldest first."""
        handed = 0
        while not self._stopping and len(self.held) < self.limit:
            took = 0
            for key, _ in await self.conn.heads(self.limit - len(self.held)):
                if self._stopping or len(self.held) >= self.limit:
                    break
                took += await self._take(key)
            handed += took
            if not took:  # every head is held elsewhere (or was just handled)
                break
        self._backlog = len(self.held) >= self.limit  # full: more may wait for a slot
        return handed

    async def _take(self, key: int) -> bool:
        """Lock the person and hand their earliest update still pending (read under the lock)."""
        if key in self._resting:
            if self._resting[key] > time.monotonic():
                return False
            del self._resting[key]
        try:
            taken, head = await self.conn.take(key)
        except Exception as exc:
            if server_cancelled(exc):  # the lock may have been granted before the cancel
                await self.conn.release_person(key)  # (unlocking one not held does nothing)
            raise
        if not taken:
            return False  # another process took them since the heads were read
        if head is None or head[0] in self.held:  # handled meanwhile (by whoever had them)
            await self.conn.release_person(key)
            return False
        return await self._hand(key, *head)

    async def _hand(self, key: int, update_id: int, payload: str) -> bool:
        """Queue the update for PTB, the person's lock held until it is done."""
        if self._stopping:  # PTB's fetcher may have gone: queued now, never done (stop hangs)
            try:
                await self.conn.release_person(key, announce=True)  # the others take it
            except Exception as exc:
                await self._failed(key, exc)
            return False
        self.held[update_id] = key
        try:
            update = Update.de_json(json.loads(payload), self.app.bot)
        except Exception as exc:  # kept by another PTB version that read it: this one cannot
            if await self._set_aside(update_id, payload, exc):
                await self.finished(update_id)
            else:  # still pending: the person goes, a sweep tries again (SWEEP_EVERY later)
                self.held.pop(update_id, None)
                await self._rest(key)
            return False
        self.handed += 1
        await self.app.update_queue.put(update)
        return True

    async def _set_aside(self, update_id: int, payload: str, exc: Exception) -> bool:
        """Keep an unreadable update apart and mark it done; False if the store failed."""
        try:
            await set_aside(self.store, json.loads(payload), exc)
            await self.store.intake.done(update_id)
        except Exception:
            log.exception("cluster: update %s could not be set aside", update_id)
            return False
        return True

    async def _rest(self, key: int) -> None:
        """Release a person whose update failed; tried again here SWEEP_EVERY later at the
        earliest (by another process at its next sweep), never in a hot loop."""
        self._resting[key] = time.monotonic() + SWEEP_EVERY
        try:
            await self.conn.release_person(key)
        except Exception as exc:  # the lock may be held still: nobody else may have them
            self._lost(f"a person's lock could not be released ({failure(exc)})")

    async def finished(self, update_id: int) -> None:
        """The update is done (IntakeProcessor): the person's next one follows here at once
        (no other process could have it: the lock is ours), else the person lingers."""
        key = self.held.pop(update_id, None)
        if key is None:
            return  # not handed by this dispatcher
        self._finishing.add(key)  # meanwhile a NOTIFY of theirs waits for this look (_again)
        try:
            await self._follow(key, update_id)
        finally:
            self._finishing.discard(key)

    async def _follow(self, key: int, update_id: int) -> None:
        """The person's next update handed, else kept for LINGER (released if stopping)."""
        try:
            head = None if self._stopping else await self.conn.earliest(key)
            if head is None and self._stopping:  # the others hear of them: it goes on there
                await self.conn.release_person(key, announce=True)
                return
        except Exception as exc:
            await self._failed(key, exc)
            return
        if head is not None and head[0] == update_id:  # not marked done: its handling failed
            await self._rest(key)
        elif head is not None:
            await self._hand(key, *head)
        else:
            self._linger(key)

    async def _failed(self, key: int, exc: Exception) -> None:
        """A statement under the person's lock failed: the server cancelled it (the inbox
        locked elsewhere; the lock is ours still): rested; else the lock may be held still and
        nobody else may have them: lost."""
        if server_cancelled(exc):
            await self._rest(key)
        else:
            self._lost(f"a person's lock could not be released ({failure(exc)})")

    def _linger(self, key: int) -> None:
        """Keep the person's lock until LINGER from now, no slot taken."""
        self._lingering[key] = time.monotonic() + LINGER
        if key in self._again:  # heard of during the look, which may have missed it: again
            self._again.discard(key)
            self._arrived.add(key)
        self._wake.set()  # the loop's wait ends at this expiry at the latest; a slot is free


class Leadership:
    """The leader's lock, tried every second; on election the hooks run, then it sweeps."""

    def __init__(self, conn: ClusterConnection, lost: Callable[..., None], sweep: Sweep) -> None:
        self.conn, self._lost, self._sweep = conn, lost, sweep
        self.leading = False  # the lock is ours
        self.ready = False  # ... and the hooks ran: this process sends (and polls)
        self.elected: list[Hook] = []  # run in order once this process becomes the leader
        self.work = asyncio.Event()  # a follower created work (NOTIFY) or this one did
        self._stopping = False
        self.gone = False  # the connection (or the database) is lost: nothing more is done
        self._pinging: asyncio.Task[None] | None = None  # the leader's pings

    def stop(self) -> None:
        """Shutdown begins: never take the lead from now on (a leader keeps it until closed)."""
        self._stopping = True
        self.work.set()

    def lose(self) -> None:
        """The connection or the database is lost: no sweep, no try, no take-over from now."""
        self.gone = True
        self.stop()

    async def run(self) -> None:
        """Try for the lock until it is ours (or stopped); then sweep for work, the lock's
        connection proved alive meanwhile by a task of its own (a slow sweep cannot delay it)."""
        try:
            await self._elect_then_sweep()
        finally:
            if self._pinging is not None:
                self._pinging.cancel()

    async def _elect_then_sweep(self) -> None:
        said_follow, first = False, True
        while True:
            if not first:  # the first try at once: a lone process leads from its start
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.work.wait(), ELECT_EVERY)
            first = False
            notified = self.work.is_set()
            self.work.clear()
            if self.gone:
                return
            if not self.leading:
                if self._stopping:
                    return
                taken = await self._try()
                if taken is None:
                    return  # the connection is lost: the process stops
                if not taken:
                    if not said_follow:
                        log.info(
                            "cluster: process %d is a follower: it handles updates; another"
                            " process leads (sends, polls); this one takes over if it stops",
                            os.getpid(),
                        )
                        said_follow = True
                    continue
                if self._stopping:  # stopped while it asked: another process may lead now
                    await self._release()
                    return
                self._pinging = asyncio.create_task(self._keep_alive(), name="cluster-ping")
                if not await self._take_over():
                    return
            elif self._pinging is not None and self._pinging.done():
                return  # the lock's connection is lost: the process stops
            try:
                await self._sweep(notified)
            except Exception as exc:  # the next second tries again
                if self.gone or isinstance(exc, DatabaseGone):
                    return  # the loss has its one line: the process stops
                log.exception("cluster: the leader's sweep failed")

    async def _try(self) -> bool | None:
        """Whether the lock was taken; None if its connection is lost."""
        try:
            return await self.conn.try_leader()
        except Exception as exc:
            if self.gone:
                return None
            if self.conn.is_closed() or isinstance(exc, TimeoutError):
                self._lost(f"the leader lock's connection failed ({failure(exc)})")
                return None
            log.warning("cluster: could not try for the leader's lock (%s)", describe(exc))
            return False

    async def _release(self) -> None:
        with contextlib.suppress(Exception):  # else it goes when the connection is closed
            await self.conn.release_leader()

    async def _take_over(self) -> bool:
        """Elected: run the hooks (recover what the last leader left, start sending)."""
        self.leading = True
        log.info(
            "cluster: process %d is the leader: it handles updates, sends tips, broadcasts"
            " and outboxes, and polls Telegram in polling mode",
            os.getpid(),
        )
        try:
            for hook in self.elected:
                await hook()
        except Exception as exc:
            lost = self.gone or isinstance(exc, DatabaseGone) or self.conn.is_closed()
            if not lost:  # else the loss's one line says it all
                log.exception("cluster: taking over failed")
            self._lost(f"could not take over as the leader ({failure(exc)})", connection=lost)
            return False
        self.ready = True
        return True

    async def _keep_alive(self) -> None:
        """While leading: a round trip every PING_EVERY, each within TIMEOUT; else lost."""
        while True:
            await asyncio.sleep(PING_EVERY)
            try:
                await self.conn.ping()
            except Exception as exc:
                self.conn.abort()  # whatever its state, the server must see the lock go
                self._lost(f"the leader lock's connection failed ({failure(exc)})")
                return


class Cluster:
    """Leadership and the dispatcher of one process, with their two connections."""

    def __init__(self, app: AnyApp, store: Store, limit: int, fail: Callable[[str], None]):
        self.app, self.store, self.limit = app, store, limit
        self._fail = fail  # the Guard's: one line, then the process stops (exit 2)
        self.lost: str | None = None
        self.halts: list[Callable[[], None]] = []  # stop sending at once (connection lost)
        self.sweeps: list[Sweep] = []  # the leader's look for work (each second, each NOTIFY)
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._notifying: asyncio.Task[None] | None = None
        self._notify_again = False
        self._lead: ClusterConnection | None = None
        self._url = ""  # the database's URL (its password never logged: url_label)
        self.leadership: Leadership | None = None
        self.dispatcher: Dispatcher | None = None

    @property
    def leading(self) -> bool:
        """Whether this process is the elected sender (and poller)."""
        return self.leadership is not None and self.leadership.ready and self.lost is None

    async def open(self, url: str) -> None:
        """Connect, LISTEN, and start trying for the lead and dispatching."""
        self._url = url
        lead = await ClusterConnection.connect(url)
        inbox: ClusterConnection | None = None
        try:
            inbox = await ClusterConnection.connect(url)
            await own_sessions(lead, inbox)  # a transaction-mode pooler: one line, no start
        except BaseException:
            for conn in (lead, inbox):
                if conn is not None:
                    conn.abort()
            raise
        self._lead = lead
        self.leadership = Leadership(lead, self.lose, self._sweep)
        self.dispatcher = Dispatcher(self.app, self.store, inbox, self.limit, self.lose)
        lead.on_lost(lambda: self.lose("the leader lock's connection was closed"))
        inbox.on_lost(lambda: self.lose("the shared inbox's connection was closed"))
        await lead.listen(
            WORK_CHANNEL, lambda _: self.leadership.work.set() if self.leadership else None
        )
        await inbox.listen(INBOX_CHANNEL, self.dispatcher.heard)

    def start(self) -> None:
        """Run leadership and the dispatcher (the application is started: its queue is read)."""
        assert self.leadership is not None and self.dispatcher is not None
        self._tasks = [
            asyncio.create_task(self.leadership.run(), name="cluster-leadership"),
            asyncio.create_task(self.dispatcher.run(), name="cluster-dispatcher"),
        ]

    async def _sweep(self, notified: bool) -> None:
        for sweep in self.sweeps:
            await sweep(notified)

    def request_work(self) -> None:
        """A follower's sender was kicked: wake the leader (NOTIFY; several kicks, one)."""
        if self.leading:
            assert self.leadership is not None
            self.leadership.work.set()
            return
        self._notify_again = True  # a NOTIFY already sent may have reached it too early
        if self._notifying is None or self._notifying.done():
            self._notifying = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        assert self._lead is not None
        while self._notify_again:  # kicks during a NOTIFY: one more after it
            self._notify_again = False
            try:
                await self._lead.notify(WORK_CHANNEL)
            except Exception as exc:  # the leader's own ticks find the work within seconds
                log.warning("cluster: could not wake the leader (%s)", describe(exc))
                return

    def lose(self, why: str, connection: bool = True) -> None:
        """A lock's connection is gone (`connection`; else the take-over failed): stop sending
        and dispatching now, then the process (one line naming the database, the Guard's,
        which also drops every connection)."""
        if self._closing or self.lost is not None:
            return
        self._halt(why)
        held = "this process may no longer hold its locks: it stopped sending"
        if connection:
            self._fail(lost_line(self._url, f"cluster: {why}; {held} (another process takes over)"))
            return
        self._fail(
            f"cluster: {why} on the database {url_label(self._url)} (setting DATABASE_URL);"
            f" {held} and stops so that the supervisor starts it again (another process takes"
            " over meanwhile)"
        )

    def _halt(self, why: str) -> None:
        self.lost = why
        for halt in self.halts:
            halt()
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.leadership is not None:
            self.leadership.lose()

    def abort(self) -> None:
        """A fatal fault (this one or another): stop sending and dispatching, and drop both
        connections at once (the server releases their locks; a server that does not answer
        is not waited for)."""
        if self.lost is None and not self._closing:
            self._halt("dropped after a fatal fault")
        self._closing = True  # the connections' own end is no news now
        for conn in (self._lead, self.dispatcher.conn if self.dispatcher else None):
            if conn is not None:
                conn.abort()

    def stop_dispatching(self) -> None:
        """Shutdown begins: no more updates handed (held ones finish, then their locks go),
        and a follower never becomes the leader now (it would start sending, polling)."""
        if self.leadership is not None:
            self.leadership.stop()
        if self.dispatcher is not None:
            self.dispatcher.stop()

    async def close(self) -> None:
        """Stop both loops and close the connections: PostgreSQL releases every lock."""
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._notifying is not None:
            await asyncio.gather(self._notifying, return_exceptions=True)
        conns = [self._lead, self.dispatcher.conn if self.dispatcher else None]
        for conn in conns:
            if conn is not None:
                with contextlib.suppress(Exception):
                    await conn.close()
        if self.leading:  # not after a loss: then the lock was gone already
            log.info("cluster: process %d released the lead", os.getpid())
