"""Shared mode: what the elected leader does, as it takes over, each second, and on a loss."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.services import Running, Services

RELAUNCH_SECONDS = 10.0  # a broadcast still `sending` but not running: launched again
HANDOVER_PAUSE = 1.0  # seconds without bulk sends when a process takes the lead


def standby(running: Running, wake: Callable[[], None] | None) -> None:
    """Each sender's kick wakes `wake` instead of sending (None: sends again)."""
    if running.broadcaster is not None:
        running.broadcaster.standby = wake
    for pump in running.pumps:
        pump.standby = wake
        for url_sender in getattr(pump, "senders", ()):  # the CRM's: one pump per URL
            url_sender.standby = wake


class LeaderDuties:
    """The senders of one process as the lead comes and goes (bot.telegram.cluster)."""

    def __init__(
        self, svc: Services, running: Running, wake: Callable[[], None],
        pick_up: Callable[[], Awaitable[None]], schedule: Callable[[], None],
    ) -> None:  # fmt: skip
        self.svc, self.running = svc, running
        self._pick_up, self._schedule = pick_up, schedule
        # When the sweep last launched each broadcast: launching is a no-op while its run
        # goes on; a run stopped by an error is tried again RELAUNCH_SECONDS later.
        self.launched: dict[int, float] = {}
        standby(running, wake)  # a follower's kicks wake the leader

    async def take_over(self) -> None:
        """Elected: pick up what the last leader left, then send."""
        running = self.running
        # The last leader may have sent a whole second's worth just before it died: Telegram
        # counts over a rolling second, so this one's bulk sends start a second later.
        if running.broadcaster is not None:
            running.broadcaster.bulk.pause(HANDOVER_PAUSE)
        if running.inbox is not None:  # the last leader's group sends count before any pass
            await running.inbox.seed_pace()
        standby(running, None)
        await self._pick_up()
        now = time.monotonic()
        sending = await self.svc.store.broadcasts.in_state("sending")
        self.launched.update((b.id, now) for b in sending)
        self._schedule()
        for pump in running.pumps:  # what followers queued meanwhile
            pump.kick()

    async def sweep(self, notified: bool) -> None:
        """Each second and each NOTIFY: followers' work (broadcasts, outboxes)."""
        now = time.monotonic()
        for sending in await self.svc.store.broadcasts.in_state("sending"):
            # A follower's confirm or resend (NOTIFY), or one the sweep has not seen lately.
            last = self.launched.get(sending.id, -RELAUNCH_SECONDS)
            if notified or now - last >= RELAUNCH_SECONDS:
                self.launched[sending.id] = now
                self.svc.broadcaster.launch(sending.id)
        if notified:
            for pump in self.running.pumps:
                pump.kick()

    def halt(self) -> None:
        """The lock is gone (another process may be sending already): nothing more leaves;
        only sends under way finish (no next tip, recipient, mail batch, event or relay)."""
        self.svc.nurture.halt()
        self.svc.broadcaster.halt()
        standby(self.running, lambda: None)
        for pump in self.running.pumps:
            pump.halt()
