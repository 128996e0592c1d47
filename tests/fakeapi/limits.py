"""Telegram's rate limits as rolling windows, counted when a request arrives (``strict()``)."""

from __future__ import annotations

import bisect
import math

from bot.preview.standin.errors import ApiError
from bot.preview.standin.state import StandInState


class Window:
    """Messages accepted within the last ``span`` seconds, at most ``limit``: Telegram counts
    rolling windows, so nothing saved up while idle allows a burst later."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit, self.span = limit, span
        self.times: list[float] = []  # sorted arrival times still inside the window

    def wait(self, now: float) -> float:
        """0 when one more message fits at ``now``, else the seconds until one does."""
        # Arrivals are stamped by the kernel and handled by several threads, so one stamped a
        # little earlier may be handled after later ones: every window holding ``now`` is
        # checked (ending at ``now``, or at one of those later ones), and a second more than
        # the span is kept.
        times, span = self.times, self.span
        del times[: bisect.bisect_right(times, now - span - 1.0)]
        later = times[bisect.bisect_right(times, now) : bisect.bisect_right(times, now + span)]
        for end in (now, *later):
            inside = times[bisect.bisect_right(times, end - span) : bisect.bisect_right(times, end)]
            if len(inside) >= self.limit:
                return max(inside[len(inside) - self.limit] + span - now, 0.001)
        return 0.0

    def add(self, now: float) -> None:
        """Count a message accepted at ``now`` (arrivals may be handled slightly out of order)."""
        bisect.insort(self.times, now)


class RateLimits(StandInState):
    """The rolling-window limits (None = unlimited) and the 429s they answer."""

    def _init_limits(self) -> None:
        """No limits until strict(); no window counted, no ban."""
        self.bulk_rate: float | None = None  # sends in any rolling second, across chats
        self.per_chat_rate: float | None = None  # sends per second into one chat, over a minute...
        self.per_chat_burst = 3.0  # ...with at most this many in any second (short bursts)
        self.group_per_minute: int | None = None  # sends in any rolling minute into one group
        self.paid_rate: float | None = None  # paid broadcasts per second; None: they count as bulk
        self._windows: dict[tuple[str, int | str], Window] = {}
        self._banned: dict[tuple[str, int | str], float] = {}  # key -> end of its retry_after
        self._call_paid = False  # whether the call being handled has allow_paid_broadcast

    def strict(self, bulk_rate: float = 30) -> None:
        """Telegram's limits: ``bulk_rate`` in any rolling second, ~1/s per chat with bursts of
        3, 20 a minute per group, 1000/s paid broadcasts."""
        with self._cond:
            self.bulk_rate, self.per_chat_rate, self.per_chat_burst = bulk_rate, 1.0, 3.0
            self.group_per_minute, self.paid_rate = 20, 1000.0

    def _throttle(self, chat_id: int | str) -> None:
        """Count a send in its windows, or answer 429 with retry_after when one is full."""
        now = self._call_at
        limits = self._limits(chat_id)
        over = {key: self._banned.get(key, 0.0) - now for key, _, _ in limits}
        for key, limit, span in limits:
            window = self._windows.get(key)
            if window is None or (window.limit, window.span) != (limit, span):
                window = self._windows[key] = Window(limit, span)
            over[key] = max(over[key], window.wait(now))
        wait = max(over.values(), default=0.0)
        if wait > 0:
            # A request before retry_after has elapsed gets another 429 (the ban is not lifted).
            retry = max(1, math.ceil(wait))
            for key, late in over.items():
                if late > 0:
                    self._banned[key] = max(self._banned.get(key, 0.0), now + retry)
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
        for key, _, _ in limits:
            self._windows[key].add(now)

    def _limits(self, chat_id: int | str) -> list[tuple[tuple[str, int | str], int, float]]:
        """(key, limit, span) of each rolling window this send counts in."""
        limits: list[tuple[tuple[str, int | str], int, float]] = []
        if self._call_paid and self.paid_rate:
            limits.append((("paid", ""), int(self.paid_rate), 1.0))
        elif self.bulk_rate:
            limits.append((("bulk", ""), int(self.bulk_rate), 1.0))
        group = isinstance(chat_id, str) or chat_id < 0
        if group and self.group_per_minute:
            limits.append((("group", chat_id), self.group_per_minute, 60.0))
        elif not group and self.per_chat_rate:
            # About per_chat_rate a second over a minute, a few at once tolerated.
            limits.append((("chat", chat_id), max(1, int(self.per_chat_burst)), 1.0))
            limits.append((("chat-minute", chat_id), max(1, int(self.per_chat_rate * 60)), 60.0))
        return limits
