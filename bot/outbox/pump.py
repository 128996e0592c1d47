"""A background sender emptying an SQLite outbox: on a timer and when kicked, one pass at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger(__name__)


class Pump:
    """Runs `pass_once` when kicked (new work) and on the job queue's timer (retries).

    Passes never overlap; a kick during a pass runs one more pass after it. Nothing here holds
    state that matters: the outbox in SQLite is the truth, so a crash loses nothing.
    """

    name = "pump"

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._again = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopped = False
        # Shared mode, in a process that is not the elected sender: a kick wakes the leader.
        self.standby: Callable[[], None] | None = None

    async def pass_once(self) -> int:
        """Send what is due; returns how many items were handled."""
        raise NotImplementedError

    async def tick(self) -> None:
        """One pass now (or one more after the running one)."""
        if self._lock.locked():
            self._again = True
            return
        async with self._lock:
            while not self._stopped:
                self._again = False
                try:
                    await self.pass_once()
                except Exception:  # the next tick tries again; the outbox keeps everything
                    log.exception("%s: pass failed", self.name)
                if not self._again:
                    break

    def kick(self) -> None:
        """Work was queued: start a pass soon, without waiting for it (the chat never waits)."""
        if self.standby is not None:
            self.standby()
            return
        if self._stopped:
            return
        task = asyncio.get_running_loop().create_task(self.tick(), name=self.name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for kicked passes to finish (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def halt(self) -> None:
        """Shared mode, the lead lost (another process sends now): no new pass, nor another
        batch of the running one; only the sends already under way finish."""
        self._stopped = True

    async def stop(self) -> None:
        """No new passes; let the running one finish its in-flight sends."""
        self._stopped = True
        await self.drain()
        async with self._lock:  # a pass the job queue started, not a kick
            pass
