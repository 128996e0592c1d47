"""Durable intake: no update lost if the process dies mid-handling, none applied twice.

PTB's polling confirms updates to Telegram (the next getUpdates offset) as soon as they are
queued, and drops whatever is still queued at shutdown. `IntakeBot.get_updates` writes each
update to the store's inbox before returning it, so before Telegram can consider it delivered;
`IntakeProcessor` marks it done once handled and skips ids already done; `replay_pending`
re-queues what a dead process left behind. In shared mode (several processes on PostgreSQL)
the cluster's dispatcher hands updates from the shared inbox instead, and `finished` tells it
when each is done (bot/telegram/cluster.py).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from telegram import Update
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import TelegramError
from telegram.ext import Application, BaseUpdateProcessor, ExtBot

from bot.store import Store
from bot.store.connection import inline_statements
from bot.telegram import replies
from bot.telegram.answers import skips_answer

log = logging.getLogger(__name__)

# Values ExtBot._insert_defaults leaves as they are (an empty string it would not: it turns it
# into a list, being an empty sequence of poll options).
_AS_IS = (type(None), bool, int, float)


def user_id_of(update: Update) -> int | None:
    user = update.effective_user
    return user.id if user else None


def raw_user_id(raw: Mapping[str, Any]) -> int | None:
    """The sender's id in an update's raw JSON (any kind), or None."""
    for value in raw.values():
        if isinstance(value, dict) and isinstance(value.get("from"), dict):
            sender = value["from"].get("id")
            return sender if isinstance(sender, int) else None
    return None


def describe(exc: BaseException) -> str:
    """An exception in one short line (type and message; no traceback)."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


async def set_aside(store: Store, raw: Mapping[str, Any], exc: BaseException) -> None:
    """Keep an update PTB cannot read (its raw JSON, once per id) and say so in one line."""
    update_id = raw["update_id"]
    await store.aside.keep(update_id, raw_user_id(raw), json.dumps(raw), describe(exc))
    log.warning("update %s set aside: PTB cannot read it (%s)", update_id, describe(exc))


class Backoff:
    """Waits from 1 s doubling to 60 s while a call keeps failing; logs once a minute at most."""

    FIRST, LONGEST, REPORT_EVERY = 1.0, 60.0, 60.0

    def __init__(self, what: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self._clock = what, clock
        self.delay = 0.0
        self.failures = 0  # since the last line logged
        self._logged_at: float | None = None

    def failed(self, exc: BaseException) -> float:
        """Count a failure; the delay to wait before the next try."""
        self.delay = min(self.delay * 2, self.LONGEST) if self.delay else self.FIRST
        self.failures += 1
        now = self._clock()
        if self._logged_at is None or now - self._logged_at >= self.REPORT_EVERY:
            log.error(
                "%s failed %d time(s) since the last report (%s); retrying in %.0f s",
                self.what, self.failures, describe(exc), self.delay,
            )  # fmt: skip
            self._logged_at, self.failures = now, 0
        return self.delay

    def succeeded(self) -> None:
        """Back to normal: say so if failures were reported."""
        if self.delay:
            log.info("%s works again", self.what)
        self.delay, self.failures, self._logged_at = 0.0, 0, None


class IntakeBot(ExtBot[None]):
    """An ExtBot whose getUpdates first saves what it fetched to the inbox."""

    _inbox: Store | None = None  # PTB freezes public attributes of bots; "_" ones may be set
    _backoff: Backoff | None = None
    # While get_updates runs: each fetched update as read here (JSON, parsed), handed to it
    # instead of to PTB, which would parse the batch a second time.
    _taking: list[tuple[Any, Update]] | None = None

    def attach_store(self, store: Store | None) -> None:
        """Where fetched updates are kept."""
        self._inbox = store

    def _insert_defaults(self, data: dict[str, object]) -> None:
        """ExtBot's, which looks at each of a call's ~15 values through up to 8 isinstance
        checks (an ABC's among them), though most are numbers, text, None or a DefaultValue:
        those are settled here as it would (a DefaultValue first, its first case), the others
        (markups, link previews, dates, media...) go to it, each key being independent."""
        defaults = self.defaults
        if defaults is None:
            super()._insert_defaults(data)
            return
        rest: dict[str, object] = {}
        for key, val in data.items():
            kind = type(val)
            if kind in _AS_IS or (kind is str and val):
                continue
            if isinstance(val, DefaultValue):
                data[key] = defaults.api_defaults.get(key, val.value)
            else:
                rest[key] = val
        if rest:
            super()._insert_defaults(rest)
            data.update(rest)

    async def _do_post(self, endpoint: str, data: dict[str, Any], **kwargs: Any) -> Any:
        """Drop the default parse_mode PTB adds to editMessageReplyMarkup (no such field);
        an answer nobody reads is not turned into a Message (bot.telegram.answers)."""
        if endpoint == "editMessageReplyMarkup":
            data.pop("parse_mode", None)
        result = await super()._do_post(endpoint, data, **kwargs)
        if skips_answer(endpoint, result):  # a reply nobody reads: PTB builds no Message
            return True
        if endpoint == "getUpdates" and isinstance(result, list):
            # PTB parses the batch as a whole: one update it cannot read would fail every poll.
            read = [await self._readable(raw) for raw in result]
            if self._taking is not None:  # get_updates returns these: PTB has none to parse
                self._taking.extend(read)
                return []
            return [raw for raw, _ in read]
        return result

    async def _readable(self, raw: Any) -> tuple[Any, Update]:
        """The update (its JSON, and as PTB reads it) if PTB can read it; else set aside,
        replaced by an empty one (same id)."""
        try:
            return raw, Update.de_json(raw, self)
        except Exception as exc:
            update_id = raw.get("update_id") if isinstance(raw, dict) else None
            if not isinstance(update_id, int):
                raise  # without an id the offset cannot move past it: the backoff handles it
            if self._inbox is not None:  # kept before Telegram can forget it
                await set_aside(self._inbox, raw, exc)
            empty = {"update_id": update_id}
            return empty, Update.de_json(empty, self)

    async def get_updates(self, *args: Any, **kwargs: Any) -> tuple[Update, ...]:
        """Fetch updates and keep them in the inbox before Telegram can forget them.

        Each is parsed once, by the check in _do_post: PTB's get_updates gets an empty batch
        (it would parse every update again, ~70 us each), and these are returned instead, as
        ExtBot's get_updates returns them; the inbox keeps the JSON Telegram sent (PTB's to_dict
        of each would cost ~15 times its JSON)."""
        backoff = self._backoff or self._new_backoff()
        taken: list[tuple[Any, Update]] = []
        self._taking = taken
        try:
            await super().get_updates(*args, **kwargs)
            updates = tuple(update for _, update in taken)
            for update in updates:
                self.insert_callback_data(update)  # what ExtBot.get_updates does to each
            if updates and self._inbox is not None:
                await self._inbox.intake.save(
                    (u.update_id, user_id_of(u), json.dumps(raw)) for raw, u in taken
                )
        except TelegramError:
            raise  # network trouble: PTB's polling loop retries with its own backoff
        except Exception as exc:  # disk full, database gone...: PTB would retry at once
            delay = backoff.failed(exc)
            if kwargs.get("timeout"):  # not the short last call at shutdown: never delay a stop
                await asyncio.sleep(delay)
            return ()  # nothing confirmed: Telegram sends the same updates again
        finally:
            self._taking = None
        backoff.succeeded()
        return updates

    def _new_backoff(self) -> Backoff:
        self._backoff = Backoff("getUpdates")
        return self._backoff


class IntakeProcessor(BaseUpdateProcessor):
    """Handles updates concurrently across people, in order for each person, at most once."""

    def __init__(self, max_concurrent_updates: int) -> None:
        # PTB's own semaphore is taken before do_process_update; with it first, one person's
        # flood of updates would hold every slot while waiting on their own lock and stall
        # everybody else. So PTB's bound is left open and the order is: the person's lock,
        # then one of our slots.
        super().__init__(max_concurrent_updates=1 << 20)
        self.store: Store | None = None
        # Shared mode: told once an update is done (or skipped), so the person's lock goes.
        self.finished: Callable[[int], Awaitable[None]] | None = None
        # Shared mode: False once this process lost its locks (another one has the person).
        self.may_handle: Callable[[], bool] | None = None
        # Runs an update's handlers again when a reply failed transiently (bot/telegram/replies).
        self.rerun: Callable[[Update], Awaitable[Any]] | None = None
        # Set as the application starts stopping: no update is handled again after that (PTB's
        # stop waits for running updates; one left unfinished stays pending for the next run).
        self.stopping = False
        self._slots = asyncio.Semaphore(max_concurrent_updates)
        self._locks: dict[int | None, asyncio.Lock] = {}
        self._waiting: dict[int | None, int] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        """In order for each person; run the handlers unless the update was handled already."""
        key = user_id_of(update) if isinstance(update, Update) else None
        lock = self._locks.get(key)
        if lock is None:  # no Lock built on every update just to be dropped by setdefault
            lock = self._locks[key] = asyncio.Lock()
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
        try:
            await self._run_once(self.store, update, coroutine)
        finally:
            if self.finished is not None:  # marked done first: the next process sees it
                await self.finished(update.update_id)

    async def _run_once(self, store: Store, update: Update, coroutine: Awaitable[Any]) -> None:
        with inline_statements():  # this update's own statements skip the thread hop
            if self.may_handle is not None and not self.may_handle():
                log.warning("update %s left to another process (locks lost)", update.update_id)
                coroutine.close()  # type: ignore[attr-defined]
                return
            if await store.intake.is_done(update.update_id):
                log.info("update %s was handled before; skipped", update.update_id)
                coroutine.close()  # type: ignore[attr-defined]
                return
            rerun, may = self.rerun, self.may_handle
            again = (lambda: rerun(update)) if rerun is not None else None
            go_on = lambda: not self.stopping and (may is None or may())  # noqa: E731
            if await replies.handle(update.update_id, coroutine, again, go_on):
                await store.intake.done(update.update_id)

    async def initialize(self) -> None:
        """Nothing to open: the store is attached in post_init."""

    async def shutdown(self) -> None:
        """Nothing to close."""


async def replay_pending(
    application: Application[Any, Any, Any, Any, Any, Any], store: Store
) -> int:
    """Queue updates a previous process received but did not finish; returns how many."""
    payloads = await store.intake.pending()
    for payload in payloads:
        raw = json.loads(payload)
        try:
            update = Update.de_json(raw, application.bot)
        except Exception as exc:  # kept by an older PTB that read it; this one cannot
            await set_aside(store, raw, exc)
            await store.intake.done(raw["update_id"])
            continue
        await application.update_queue.put(update)
    if payloads:
        log.info("replaying %d update(s) left unfinished by the previous run", len(payloads))
    return len(payloads)
