"""Durable intake: no update lost if the process dies mid-handling, none applied twice.

PTB's polling confirms updates to Telegram (the next getUpdates offset) as soon as they are
queued, and drops whatever is still queued at shutdown. `IntakeBot.get_updates` writes each
update to the store's inbox before returning it, so before Telegram can consider it delivered;
`IntakeProcessor` marks it done once handled and skips ids already done; `replay_pending`
re-queues what a dead process left behind.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import Application, BaseUpdateProcessor, ExtBot

from bot.store import Store

log = logging.getLogger(__name__)


def user_id_of(update: Update) -> int | None:
    user = update.effective_user
    return user.id if user else None


class IntakeBot(ExtBot[None]):
    """An ExtBot whose getUpdates first saves what it fetched to the inbox."""

    _inbox: Store | None = None  # PTB freezes public attributes of bots; "_" ones may be set

    def attach_store(self, store: Store | None) -> None:
        """Where fetched updates are kept."""
        self._inbox = store

    async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
        """Drop the default parse_mode PTB adds to editMessageReplyMarkup (no such field)."""
        if endpoint == "editMessageReplyMarkup":
            data.pop("parse_mode", None)
        return await super()._do_post(endpoint, data, **kwargs)

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Fetch updates and keep them in the inbox before Telegram can forget them."""
        updates = await super().get_updates(*args, **kwargs)
        if updates and self._inbox is not None:
            await self._inbox.inbox_save(
                (u.update_id, user_id_of(u), json.dumps(u.to_dict())) for u in updates
            )
        return updates


class IntakeProcessor(BaseUpdateProcessor):
    """Handles updates concurrently across people, in order for each person, at most once."""

    def __init__(self, max_concurrent_updates: int) -> None:
        # PTB's own semaphore is taken before do_process_update; with it first, one person's
        # flood of updates would hold every slot while waiting on their own lock and stall
        # everybody else. So PTB's bound is left open and the order is: the person's lock,
        # then one of our slots.
        super().__init__(max_concurrent_updates=1 << 20)
        self.store: Store | None = None
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """In order for each person; run the handlers unless the update was handled already."""
        key = user_id_of(update) if isinstance(update, Update) else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock, self._slots:
                await self._handle_once(update, coroutine)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody else queued for this person: drop the lock
                del self._waiting[key]
                self._locks.pop(key, None)

    async def _handle_once(self, update: object, coroutine: Awaitable[Any]) -> None:
        if not isinstance(update, Update) or self.store is None:
            await coroutine
            return
        if await self.store.inbox_is_done(update.update_id):
            log.info("update %s was handled before; skipped", update.update_id)
            coroutine.close()  # type: ignore[attr-defined]
            return
        await coroutine
        await self.store.inbox_done(update.update_id)

    async def initialize(self) -> None:
        """Nothing to open: the store is attached in post_init."""

    async def shutdown(self) -> None:
        """Nothing to close."""


async def replay_pending(
    application: Application[Any, Any, Any, Any, Any, Any], store: Store
) -> int:
    """Queue updates a previous process received but did not finish; returns how many."""
    payloads = await store.inbox_pending()
    for payload in payloads:
        update = Update.de_json(json.loads(payload), application.bot)
        await application.update_queue.put(update)
    if payloads:
        log.info("replaying %d update(s) left unfinished by the previous run", len(payloads))
    return len(payloads)
