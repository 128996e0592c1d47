"""Long polling in shared mode: only the elected leader calls getUpdates (no 409 storm).

Its IntakeBot keeps what it fetched in the shared inbox (NOTIFY: every process's dispatcher
hears of it); the Updater's own queue drops the updates, since the dispatchers hand them to
PTB. PTB still computes the next offset from what getUpdates returned, so confirming an update
to Telegram never waits for it to be handled, as in single-process polling.

The database lost (the cluster's halt): polling stops at once, without PTB's last getUpdates
that confirms what was fetched (it could not be kept: Telegram sends it again after the
restart, the inbox ignores a second copy).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from telegram.ext import Updater

from bot.app import ALLOWED_UPDATES, App, close_services, open_services, stop_services
from bot.services import Services

log = logging.getLogger(__name__)


class SharedUpdater(Updater):
    """PTB's Updater, which skips its last getUpdates once the database is lost."""

    lost = False

    async def _stop_polling(self) -> None:
        if self.lost:  # what it would fetch could not be kept: not confirmed, sent again later
            self._Updater__polling_cleanup_cb = _nothing  # PTB's own (name-mangled)
        await super()._stop_polling()


async def _nothing() -> None:
    """PTB's last getUpdates, skipped."""


class DroppingQueue(asyncio.Queue[Any]):
    """The Updater's queue in shared mode: what it puts is already in the shared inbox."""

    async def put(self, item: Any) -> None:
        """Dropped: the dispatcher reads the inbox."""

    def put_nowait(self, item: Any) -> None:
        """Dropped: the dispatcher reads the inbox."""


async def run_shared_polling(app: App, svc: Services) -> None:
    """Start, poll while this process leads, serve until SIGINT or SIGTERM, stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await serve_shared_polling(app, svc, stop)


async def serve_shared_polling(app: App, svc: Services, stop: asyncio.Event) -> None:
    """Start, poll while this process leads, serve until `stop` is set, stop cleanly."""
    updater = SharedUpdater(bot=app.bot, update_queue=DroppingQueue())
    stopping: list[asyncio.Task[None]] = []

    async def poll() -> None:  # elected: the previous poller is gone with its lock
        await updater.initialize()
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        log.info("polling Telegram at %s (this process leads)", svc.settings.bot_api_url)

    def lost() -> None:  # the cluster's halt: no getUpdates from now on
        updater.lost = True
        if updater.running and not stopping:
            stopping.append(asyncio.get_running_loop().create_task(updater.stop()))

    app.bot_data["shared"] = True
    app.bot_data.setdefault("on_elected", []).append(poll)  # before the first election
    app.bot_data.setdefault("on_lost", []).append(lost)
    await app.initialize()
    try:
        await open_services(app)
    except BaseException:  # e.g. a start-up fault (its one line: bot/__main__.py)
        await app.shutdown()
        await close_services(app)
        raise
    await app.start()
    try:
        await stop.wait()
    finally:
        await asyncio.gather(*stopping, return_exceptions=True)
        if updater.running:
            await updater.stop()
        await app.stop()  # handles what was handed
        if updater.running:  # elected while it stopped (a take-over already under way)
            await updater.stop()
        await stop_services(app)
        await updater.shutdown()
        await app.shutdown()
        await close_services(app)
        log.info("stopped")
