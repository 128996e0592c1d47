"""Nurture timing as plain functions: sending hours, next due time, retry backoff."""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.content.catalogue import Tip

WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")


@dataclass(frozen=True)
class Window:
    """Daily sending hours, local time; `start == end` means all day; may cross midnight."""

    start: time
    end: time  # exclusive; 24:00 is written as time.max

    @classmethod
    def parse(cls, text: str) -> Window:
        """`09:00-20:00` (or `00:00-24:00` for all day, `22:00-06:00` across midnight)."""
        match = WINDOW.match(text.strip())
        if not match:
            raise ValueError(f"bad sending hours {text!r}: use HH:MM-HH:MM, like 09:00-20:00")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or m1 > 59 or m2 > 59 or h2 > 24 or (h2 == 24 and m2):
            raise ValueError(f"bad sending hours {text!r}: hours 00-24, minutes 00-59")
        end = time.max if h2 == 24 else time(h2, m2)
        return cls(time(h1, m1), end)

    @property
    def all_day(self) -> bool:
        """Whether any time is fine."""
        return self.start == self.end or (self.start == time(0) and self.end == time.max)

    def contains(self, local: time) -> bool:
        """Whether a local time of day is inside the window."""
        if self.all_day:
            return True
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight


def next_send_time(due: float, window: Window, zone: ZoneInfo) -> int:
    """The first moment at or after `due` (unix seconds) inside the window, in that time zone."""
    local = datetime.fromtimestamp(int(due), zone)
    if window.contains(local.timetz().replace(tzinfo=None)):
        return int(due)
    opening = datetime.combine(local.date(), window.start, zone)
    if opening <= local:
        opening = datetime.combine(local.date() + timedelta(days=1), window.start, zone)
    return int(opening.timestamp())


def next_in_sequence(tips: Sequence[Tip], done: Collection[str], hot: bool) -> Tip | None:
    """The first tip not scheduled yet; once ready to talk, only tips marked `after_hot`."""
    return next((t for t in tips if t.id not in done and (t.after_hot or not hot)), None)


def resumed_due(due_at: int, left_at: int, now: int, delay: int) -> int:
    """When a tip paused by /stop goes after an opt-in at `now`: the wait it still had when the
    person left, or its own delay if it was already due then (never at once, never a burst)."""
    remaining = due_at - left_at
    return now + (remaining if remaining > 0 else delay)


def backoff(attempt: int, base: int = 30, cap: int = 3600) -> int:
    """Seconds before retry `attempt` (1, 2, ...) after a transient error: 30, 60, 120..."""
    return min(cap, base * 2 ** max(0, attempt - 1))
