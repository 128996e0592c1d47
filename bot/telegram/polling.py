"""Long polling in shared mode: only the elected leader calls getUpdates (no 409 storm).

Its IntakeBot keeps what it fetched in the shared inbox (NOTIFY: every process's dispatcher
hears of it); the Updater's own queue drops the updates, since the dispatchers hand them to
PTB. PTB still computes the next offset from what getUpdates returned, so confirming an update
to Telegram never waits for it to be handled, as in single-process polling.
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
    updater = Updater(bot=app.bot, update_queue=DroppingQueue())

    async def poll() -> None:  # elected: the previous poller is gone with its lock
        await updater.initialize()
        await updater.start_polling(allowed_updates=ALLOWED_UPDATES)
        log.info("polling Telegram at %s (this process leads)", svc.settings.bot_api_url)

    app.bot_data["shared"] = True
    app.bot_data.setdefault("on_elected", []).append(poll)  # before the first election
    await app.initialize()
    await open_services(app)
    await app.start()
    try:
        await stop.wait()
    finally:
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
