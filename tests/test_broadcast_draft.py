"""The broadcast composition rules as plain functions: links, dates, slots, lateness."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.broadcast.draft import LATE_GRACE, late_action, parse_link, parse_when, slots

PARIS = ZoneInfo("Europe/Paris")


def at(*parts: int) -> int:
    """Unix seconds of a Paris wall-clock time."""
    return int(datetime(*parts, tzinfo=PARIS).timestamp())  # type: ignore[misc]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Book now https://example.com/book", ("Book now", "https://example.com/book")),
        ("Channel t.me/aimant", ("Channel", "https://t.me/aimant")),
        ("Join https://t.me/+AbCdEf", ("Join", "https://t.me/+AbCdEf")),
        ("https://example.com", "bc_link_usage"),
        ("Plain http://example.com", "bc_link_scheme"),
        ("App tg://resolve?domain=x", "bc_link_scheme"),
        ("Mail mailto:a@example.com", "bc_link_scheme"),
        ("Local https://localhost/x", "bc_link_host"),
        ("Odd https://[::1", "bc_link_host"),
    ],
)
def test_links(typed: str, expected: object) -> None:
    assert parse_link(typed) == expected


def test_dates_in_the_business_zone() -> None:
    now = at(2026, 9, 21, 16, 13)
    assert parse_when("2026-12-07 09:00", now, PARIS) == at(2026, 12, 7, 9, 0)
    assert parse_when(" 2026-12-07T9:00 ", now, PARIS) == at(2026, 12, 7, 9, 0)
    assert parse_when("2026-09-21 16:13", now, PARIS) == "bc_when_past"
    assert parse_when("2027-09-23 16:13", now, PARIS) == "bc_when_far"
    assert parse_when("9999-12-31 23:59", now, PARIS) == "bc_when_far"
    for bad in ("tomorrow", "07/12/2026 09:00", "2026-13-01 09:00", "2026-12-07 24:00", ""):
        assert parse_when(bad, now, PARIS) == "bc_when_bad", bad


def test_tomorrow_and_monday() -> None:
    tuesday = at(2026, 9, 22, 8, 0)
    assert slots(tuesday, PARIS) == {"tomorrow": at(2026, 9, 23, 9), "monday": at(2026, 9, 28, 9)}
    monday_early = at(2026, 9, 28, 7, 0)  # this very Monday, 09:00 still ahead
    assert slots(monday_early, PARIS)["monday"] == at(2026, 9, 28, 9)
    monday_late = at(2026, 9, 28, 9, 0)
    assert slots(monday_late, PARIS)["monday"] == at(2026, 10, 5, 9)
    saturday_before_dst = at(2026, 10, 24, 12, 0)  # clocks go back on Sunday the 25th
    assert slots(saturday_before_dst, PARIS)["monday"] == at(2026, 10, 26, 9)


def test_lateness() -> None:
    assert late_action(1000, 999) == "wait"
    assert late_action(1000, 1000 + LATE_GRACE) == "send"
    assert late_action(1000, 1001 + LATE_GRACE) == "ask"
