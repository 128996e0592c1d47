"""Calendar-month periods in the owner's time zone, as half-open unix-second ranges."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

MONTH = re.compile(r"^(\d{4})-(\d{2})$")
EVER = (0, 2**62)


@dataclass(frozen=True)
class Period:
    """[start, end) in unix seconds, with a label like `2026-10` or `all`."""

    label: str
    start: int
    end: int

    @property
    def is_all(self) -> bool:
        """Whether this is all time."""
        return (self.start, self.end) == EVER


ALL_TIME = Period("all", *EVER)


def month(year: int, number: int, zone: ZoneInfo) -> Period:
    """The calendar month `year-number` in `zone`."""
    start = datetime(year, number, 1, tzinfo=zone)
    after = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return Period(f"{year:04d}-{number:02d}", int(start.timestamp()), int(after.timestamp()))


def month_of(ts: float, zone: ZoneInfo) -> Period:
    """The month containing `ts`."""
    local = datetime.fromtimestamp(ts, zone)
    return month(local.year, local.month, zone)


def previous(period: Period, zone: ZoneInfo) -> Period:
    """The month before a month."""
    return month_of(period.start - 1, zone)


def last_months(ts: float, count: int, zone: ZoneInfo) -> list[Period]:
    """The `count` months ending with the month of `ts`, oldest first."""
    months = [month_of(ts, zone)]
    while len(months) < count:
        months.append(previous(months[-1], zone))
    return months[::-1]


def parse_period(arg: str | None, now: float, zone: ZoneInfo) -> Period:
    """`None` → this month, `all` → all time, `2026-10` → that month; ValueError otherwise."""
    if not arg:
        return month_of(now, zone)
    arg = arg.strip().lower()
    if arg in ("all", "tout"):
        return ALL_TIME
    match = MONTH.match(arg)
    if not match or not 1 <= int(match.group(2)) <= 12 or not 2000 <= int(match.group(1)) <= 2100:
        raise ValueError(arg)
    return month(int(match.group(1)), int(match.group(2)), zone)
