"""Replies (a handler's sends, edits, answers, the PDF) are never lost to Telegram's refusals.

`ReplyRateLimiter` waits out every 429 on a reply for as long as Telegram asks, up to
`MAX_WAIT` seconds in all, never sending before retry_after has elapsed, and pauses the bulk
pacer meanwhile: a person waiting comes before a broadcast. A reply that still fails (network
trouble, or 429s past `MAX_WAIT`) fails its handler; `on_error` then asks for the update to be
handled again (`retry_later`), up to `ATTEMPTS` times, before the person gets the friendly
error. Within one update's attempts, calls are told apart by their endpoint, their target (the
chat, else the message, else the query) and their rank among such calls in the try: a retry's
first n calls of a kind to a target get the answers the earlier tries' first n got, whatever their
content now (live counts, another branch taken), and only calls beyond those are made
(`Attempt.journal`). So a retry sends nothing twice and answers no query twice. Only the update's
own task uses the journal: a task it starts (a broadcast, a pump, a relay) makes its calls.

Once the process is stopping (or lost the person's lock), no reply waits: one waiting for a
group's budget (PTB's 20 a minute), a 429's retry_after or a handling again gives up at once
(`GaveUp`), and its update is left not done, replayed at the next start or by another process.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

from bot.telegram.pacing import Pacer, in_bulk_send
from bot.telegram.sending import retry_after_seconds

log = logging.getLogger(__name__)

MAX_WAIT = 120.0  # seconds of 429s one reply waits out in all before it fails
MARGIN = 0.1  # after retry_after: Telegram's clock and ours may round differently
ATTEMPTS = 3  # handlings of one update whose reply failed transiently, the first included
RETRY_DELAYS = (1.0, 5.0)  # before the second and the third handling
# Into one private chat: ~1 message a second, short bursts tolerated (at most 3 in any second,
# 60 in any minute); the owner's chat gets a draft's summary, its picker and a preview at once.
CHAT_BURST, CHAT_PER_MINUTE = 3, 60
CHAT_WINDOW = 1.0  # seconds: the rolling window CHAT_BURST counts over
# A reply waits at most this for its chat's turn (it holds an update slot meanwhile); past it,
# it goes anyway and a 429, if any, is waited out like any other.
CHAT_MAX_WAIT = 2.0
STOP_POLL = 0.05  # a reply waiting looks this often whether the process is stopping


class GaveUp(Exception):
    """A reply's wait was cut short (the process is stopping, or lost the person's lock): the
    update is left not done, to be handled at the next start or by another process. Not a
    TelegramError: handlers that shrug off Telegram's refusals let it through."""


@dataclass
class Attempt:
    """One update's handling: which try it is, and what its earlier tries got from Telegram."""

    number: int = 1
    last: bool = True  # no handling after this one: on_error tells the person
    again: bool = False  # on_error asked for another handling
    journal: dict[str, list[Any]] = field(default_factory=dict)  # call -> its answers, in order
    used: dict[str, int] = field(default_factory=dict)  # call -> answers used in this try
    task: asyncio.Task[Any] | None = None  # the update's task: the only one using the journal
    may_go_on: Callable[[], bool] | None = None  # False once stopping (or the lock is lost)
    gave_up: bool = False  # a reply's wait was cut short: the update is left not done
    undone: bool = False  # on_error asked for the update to be left not done (handled later)

    def next(self, last: bool) -> None:
        """The next try: every journaled answer may be used again once."""
        self.number, self.last, self.again = self.number + 1, last, False
        self.used.clear()


_ATTEMPT: ContextVar[Attempt | None] = ContextVar("reply_attempt", default=None)


def _current() -> Attempt | None:
    """The update's attempt, in its own task only: tasks it started inherit the variable."""
    attempt = _ATTEMPT.get()
    if attempt is None or attempt.task is not asyncio.current_task():
        return None
    return attempt


def transient(error: BaseException) -> bool:
    """Whether a reply failed in a way that may pass: a 429 past MAX_WAIT, network trouble."""
    # BadRequest is a NetworkError in PTB: refused for good, trying again won't help.
    return isinstance(error, RetryAfter) or (
        isinstance(error, NetworkError) and not isinstance(error, BadRequest)
    )


def retry_later(error: BaseException) -> bool:
    """From on_error: True if this update will be handled again (nothing to tell the person)."""
    if isinstance(error, GaveUp):  # at the next start, or by another process
        return True
    attempt = _current()
    if attempt is None or attempt.last or not transient(error):
        return False
    attempt.again = True
    return True


def leave_undone() -> None:
    """From on_error: the update is left not done (pending: handled again later)."""
    attempt = _current()
    if attempt is not None:
        attempt.undone = True


def will_retry(error: BaseException) -> bool:
    """Whether an update failing with `error` now would be handled again."""
    if isinstance(error, GaveUp):
        return True
    attempt = _current()
    return attempt is not None and not attempt.last and transient(error)


async def handle(
    update_id: int,
    coroutine: Awaitable[Any],
    rerun: Callable[[], Awaitable[Any]] | None,
    may_go_on: Callable[[], bool],
) -> bool:
    """Run an update's handlers, again (`rerun`) while on_error asks, up to ATTEMPTS times;
    False if it was left unfinished (shutting down, or locks lost): it is handled later."""
    attempt = Attempt(last=rerun is None, task=asyncio.current_task(), may_go_on=may_go_on)
    token = _ATTEMPT.set(attempt)
    try:
        await coroutine
        while attempt.again and rerun is not None and not attempt.gave_up:
            delay = RETRY_DELAYS[min(attempt.number, len(RETRY_DELAYS)) - 1]
            log.warning(
                "update %s: a reply failed; handled again in %.0f s (try %d of %d)",
                update_id, delay, attempt.number + 1, ATTEMPTS,
            )  # fmt: skip
            try:
                await _unless_stopping(asyncio.sleep(delay))
            except GaveUp:
                break
            if not may_go_on():
                attempt.gave_up = True
                break
            attempt.next(last=attempt.number + 1 >= ATTEMPTS)
            await rerun()
        if attempt.gave_up:  # stopping: it stays pending, replayed by whoever goes on
            log.warning("update %s left unfinished: shutting down", update_id)
            return False
        return not attempt.undone
    finally:
        _ATTEMPT.reset(token)


async def _unless_stopping(waiting: Coroutine[Any, Any, Any]) -> Any:
    """Await `waiting` in an update's task, unless the process stops meanwhile (or lost the
    person's lock): then GaveUp at once, the update marked to be left not done. Outside an
    update's task it is simply awaited."""
    attempt = _current()
    if attempt is None or attempt.may_go_on is None:
        return await waiting
    if not attempt.may_go_on():
        waiting.close()
        attempt.gave_up = True
        raise GaveUp("stopping: the update is left for the next start")
    task = asyncio.ensure_future(waiting)
    try:
        while True:
            done, _ = await asyncio.wait([task], timeout=STOP_POLL)
            if done:
                return task.result()
            if not attempt.may_go_on():
                attempt.gave_up = True
                raise GaveUp("stopping: the update is left for the next start")
    finally:
        if not task.done():
            task.cancel()


def _key(endpoint: str, data: dict[str, Any]) -> str:
    """What a call is within one update, its content aside: the endpoint and its target (the
    chat, else the inline message, else the query); the journal counts such calls in order."""
    for name in ("chat_id", "inline_message_id", "callback_query_id", "inline_query_id"):
        if data.get(name) is not None:
            return f"{endpoint}:{name}={data[name]}"
    return endpoint


class ReplyRateLimiter(AIORateLimiter):
    """PTB's limiter (group pacing) for replies, waiting out 429s up to MAX_WAIT; bulk sends
    pass straight through, so a refused tip or broadcast is never retried outside the shared
    budget, nor held claimed in an internal retry."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bulk: Pacer | None = None  # paused by a reply's 429 (set in post_init)
        self._quiet_until = 0.0  # loop time before which no reply is written (a 429)
        self._chats: dict[int, collections.deque[float]] = {}  # private chat -> its sends' times

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Bulk: the call as is; a reply: its earlier answer in this update, else sent."""
        if in_bulk_send():
            return await callback(*args, **kwargs)
        attempt = _current()
        if attempt is None:
            return await self._patiently(callback, args, kwargs, endpoint, data)
        key = _key(endpoint, data)
        seen, used = attempt.journal.get(key, []), attempt.used.get(key, 0)
        if used < len(seen):  # an earlier try made its n-th such call: that one stands
            attempt.used[key] = used + 1
            return seen[used]
        result = await self._patiently(callback, args, kwargs, endpoint, data)
        attempt.journal.setdefault(key, []).append(result)
        attempt.used[key] = attempt.used.get(key, 0) + 1
        return result

    async def _patiently(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
    ) -> Any:
        """The call, again after each 429's retry_after while the waits stay under MAX_WAIT."""
        chat_id = data.get("chat_id")
        group: int | str | bool = False
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str):
            group = chat_id  # PTB's group pacing (20 a minute)
        loop = asyncio.get_running_loop()
        waited = 0.0
        # The group's budget (PTB's limiter, 20 a minute) is waited for here, so that a stop
        # cuts the wait short; no other PTB limiter applies without an overall rate: the call
        # itself, without _run_request's closure, null contexts and event wait (that event is
        # only ever cleared by AIORateLimiter.process_request, which this class replaces).
        paced = bool(group) and bool(self._group_max_rate)
        unlimited = chat_id is None or self._base_limiter is None
        while True:
            if isinstance(chat_id, int) and chat_id > 0 and _is_send(endpoint):
                await self._chat_turn(loop, chat_id)
            await self._quiet(loop)
            if paced:
                await self._group_turn(group)
            try:
                if unlimited:
                    return await callback(*args, **kwargs)
                return await self._run_request(
                    chat=chat_id is not None,
                    group=False,
                    allow_paid_broadcast=False,
                    callback=callback,
                    args=args,
                    kwargs=kwargs,
                )
            except RetryAfter as exc:
                wait = retry_after_seconds(exc) + MARGIN
                if waited + wait > MAX_WAIT:
                    log.warning("a reply got 429s for %.0f s; giving up on it", waited)
                    raise
                waited += wait
                log.info("a reply got 429: again in %.1f s (bulk sends wait too)", wait)
                self._quiet_until = max(self._quiet_until, loop.time() + wait)
                if self.bulk is not None:  # replies first: a person waits, a broadcast can
                    self.bulk.pause(wait)

    async def _quiet(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wait until no 429 (a reply's, or the bulk pacer's) forbids writing a request (no
        wait once stopping: GaveUp)."""
        while True:
            until = max(self._quiet_until, self.bulk.paused_until if self.bulk else 0.0)
            if until <= loop.time():
                return
            await _unless_stopping(asyncio.sleep(until - loop.time()))

    async def _group_turn(self, group: int | str | bool) -> None:
        """Wait for the group's budget in PTB's limiter (20 a minute): cut short by a stop
        (GaveUp), so a handler holding its update never delays the stop."""
        limiter = self._get_group_limiter(group)
        if limiter.has_capacity():
            await limiter.acquire()  # at once
            return
        await _unless_stopping(limiter.acquire())

    async def _chat_turn(self, loop: asyncio.AbstractEventLoop, chat_id: int) -> None:
        """Book this send's moment in a private chat (CHAT_BURST a second, CHAT_PER_MINUTE a
        minute, counted on rolling windows like Telegram), and wait for it; a turn more than
        CHAT_MAX_WAIT away is not booked: the send goes now (a 429 is waited out in _patiently),
        so a busy chat (the owner's alerts from every prospect) never holds update slots."""
        now = loop.time()
        if len(self._chats) > 10_000:  # forget chats idle for a minute: nothing to hold back
            self._chats = {c: d for c, d in self._chats.items() if d and d[-1] > now - 60}
        sent = self._chats.get(chat_id)
        if sent is None:
            sent = self._chats[chat_id] = collections.deque(maxlen=CHAT_PER_MINUTE)
        at = max(now, sent[-1] if sent else now)  # bookings in order: the windows stay sorted
        if len(sent) >= CHAT_BURST:
            at = max(at, sent[-CHAT_BURST] + CHAT_WINDOW + MARGIN)
        if len(sent) >= CHAT_PER_MINUTE:
            at = max(at, sent[0] + 60.0 + MARGIN)
        if at - now > CHAT_MAX_WAIT:
            log.info(
                "chat %s busy: a reply goes without waiting %.0f s for its turn", chat_id, at - now
            )
            return
        sent.append(at)
        if at > now:
            await asyncio.sleep(at - now)


def _is_send(endpoint: str) -> bool:
    """Whether a call puts a message in the chat (what Telegram's per-chat limit counts)."""
    name = endpoint.lower()
    return name != "sendchataction" and name.startswith(("send", "copy", "forward"))
