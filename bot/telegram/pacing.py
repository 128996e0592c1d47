"""Even pacing for bulk sends (tips, broadcasts); replies go through bot/telegram/replies.py.

Telegram counts messages over rolling windows: a whole second's worth let out at once trips the
limit however idle the bot was before. The pacer hands out one slot every 1/R s, FIFO, shared
by tips and broadcasts; the sender claims its message in SQLite only once it holds a slot, so a
message waiting here is still `pending` and survives a crash. Right before the request is
written, `wire` checks Telegram's own rule (at most R in any rolling second) once more.

Telegram counts at its end, where requests arrive with some jitter (the network, the process
descheduled between the count and the write): R requests let out over exactly one second can
arrive as R + 1 in one. So the pacer counts R per rolling 1 s + ARRIVAL_MARGIN, and spaces its
grid to match: up to ARRIVAL_MARGIN of jitter between two requests still arrives as at most R
in any rolling second, at 1 / (1 + ARRIVAL_MARGIN) = 0.96 of R. A request held up on its way
after `wire` (a busy loop, the process descheduled) by more than LATE counts from when its body
was written, as the HTTP client's trace tells (`departure_hooks`), so the next ones wait for it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import math
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Any

import httpx

_BULK: ContextVar[bool] = ContextVar("bulk_send", default=False)

ARRIVAL_MARGIN = 0.04  # seconds of arrival jitter a rolling second at Telegram's end absorbs
WIRE_WAIT = 0.005  # seconds a claimed message may wait for the rolling second (see wire)
# A request whose last byte left later than this after `wire` let it through (the loop busy
# with other tasks, the process descheduled) counts in the rolling second from when it left.
LATE = 0.01


class Departure:
    """A request `wire` let through: when it counts in the rolling second (loop time), and
    whether that is settled (its body written, or its call over: it cannot move any more)."""

    __slots__ = ("at", "settled")

    def __init__(self, at: float) -> None:
        self.at = at
        self.settled = False

    def left(self, at: float) -> None:
        """Its request's last byte was written at `at`: counted from then if that was late."""
        if at - self.at > LATE:
            self.at = at
        self.settled = True

    def over(self) -> None:
        """Its call ended (answered, failed, or an in-process request with no trace): its time
        stays what it is."""
        self.settled = True


_DEPARTURE: ContextVar[Departure | None] = ContextVar("departure", default=None)


class Pacer:
    """One slot every (1 + ARRIVAL_MARGIN)/rate seconds, first come first served; paused after
    a 429."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        # Telegram's own rule, checked as each request is written (see wire): at most `rate`
        # in any rolling second, whatever stalls of the loop or the database bunched together,
        # counted over a second and the margin so that arrival jitter cannot add one.
        self._window = max(1, int(rate))
        self._span = self._window / rate + ARRIVAL_MARGIN
        self.interval = self._span / self._window
        self._next = 0.0  # the first free time on the grid
        self._given: collections.deque[Departure] = collections.deque(maxlen=self._window)
        self._paused_until = 0.0
        self._closed = False
        self._sleepers: set[asyncio.Future[None]] = set()

    @property
    def closed(self) -> bool:
        """Whether shutdown began: no more slots."""
        return self._closed

    async def slot(self) -> bool:
        """Wait for the next slot; False once closed (the caller sends nothing, claims nothing)."""
        loop = asyncio.get_running_loop()
        while not self._closed:
            # Each caller books its own time on the grid at once: no hand-over between waiters,
            # so high rates (paid broadcasts) are not bound by the loop's turns. After an idle
            # spell the grid starts again from now: nothing saved up, so never a burst.
            now = loop.time()
            at = max(self._next, now, self._paused_until)
            self._next = at + self.interval
            if at > now:
                await self._sleep_until(loop, at)
            if not self._closed and loop.time() >= self._paused_until:
                return True
            # closed, or a 429 came meanwhile: book again after the pause
        return False

    async def wire(self) -> Departure | None:
        """Just before a claimed message's request is written: its Departure to write it now,
        None to hold it back.

        Slots are even, but a stall (the event loop, the database thread) can let several
        claims finish at once; one that would be the (rate+1)th in a rolling second for longer
        than WIRE_WAIT gets None, as when closed or paused by a 429 meanwhile: the caller puts
        it back to pending (due at once, it takes a slot again). Only that short a wait once
        claimed: a crash while a claimed message waited would make it `unknown` though its
        request never left. (A slot's own timer jitter asks for much less.)

        The rolling second counts each request from when it left, if that was later than
        LATE after it was let through (`bulk_send(departure)` and the HTTP client's trace,
        `departure_hooks`): a request held up on its way by a busy loop would otherwise leave
        bunched with the next ones. Admissions are in order and times only move later, so the
        first of the last `rate` is the oldest unless it was late itself (then this is only
        stricter); it leaves the window only once settled, so no time moves after it is no
        longer counted (a request still not written a whole span on, a connection being set
        up again: the next ones are held until it goes or fails). An on-time request may
        leave up to LATE after it was let through: that much of ARRIVAL_MARGIN is its own.
        """
        loop = asyncio.get_running_loop()
        while not self._closed and loop.time() >= self._paused_until:
            now = loop.time()
            first = self._given[0] if len(self._given) == self._window else None
            if first is None or (first.settled and first.at <= now - self._span):
                departure = Departure(now)
                self._given.append(departure)
                return departure
            at = first.at + self._span
            if not first.settled or at - now > WIRE_WAIT:
                return None
            await self._sleep_until(loop, at)
        return None

    async def _sleep_until(self, loop: asyncio.AbstractEventLoop, at: float) -> None:
        """Sleep until `at` (loop time), or until close()."""
        sleeper = loop.create_future()
        self._sleepers.add(sleeper)
        timer = loop.call_at(at, _wake, sleeper)
        try:
            await sleeper
        finally:
            timer.cancel()
            self._sleepers.discard(sleeper)

    def pause(self, seconds: float) -> None:
        """Telegram answered 429: no slot before `seconds` from now (its retry_after)."""
        now = asyncio.get_running_loop().time()
        self._paused_until = max(self._paused_until, now + seconds)

    @property
    def paused_until(self) -> float:
        """Loop time before which no slot is given (a 429's retry_after); replies wait too."""
        return self._paused_until

    def close(self) -> None:
        """Shutdown: every waiter gets False (or None) at once; sends already under way finish."""
        self._closed = True
        for sleeper in list(self._sleepers):
            _wake(sleeper)


def _wake(sleeper: asyncio.Future[None]) -> None:
    if not sleeper.done():
        sleeper.set_result(None)


def in_flight_for(rate: float) -> int:
    """Sends to keep going at once to reach `rate` when Telegram takes ~100-300 ms per call."""
    return max(4, min(300, math.ceil(rate * 0.35)))


@contextlib.contextmanager
def bulk_send(departure: Departure | None = None) -> Iterator[None]:
    """Calls made inside skip PTB's limiter: the pacer spaces them, `sending.send` handles 429.
    With `departure`, the HTTP client tells it when the request's last byte left."""
    token, leaving = _BULK.set(True), _DEPARTURE.set(departure)
    try:
        yield
    finally:
        _DEPARTURE.reset(leaving)
        _BULK.reset(token)


def departure_hooks() -> dict[str, list[Callable[[httpx.Request], Awaitable[None]]]]:
    """httpx event hooks (PTB's `HTTPXRequest(httpx_kwargs=...)`): a bulk request paced by
    `wire` gets httpcore's trace, which says when its body was written."""
    return {"request": [_trace_departure]}


async def _trace_departure(request: httpx.Request) -> None:
    departure = _DEPARTURE.get()
    if departure is not None:  # the same task: the context of the send that awaits it
        request.extensions["trace"] = _Left(departure)


class _Left:
    """httpcore's trace callback for one request: its body written, the departure known."""

    __slots__ = ("departure",)

    def __init__(self, departure: Departure) -> None:
        self.departure = departure

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "http11.send_request_body.complete":
            self.departure.left(asyncio.get_running_loop().time())


def in_bulk_send() -> bool:
    """Whether the call being made is a bulk send (inside `bulk_send`)."""
    return _BULK.get()
