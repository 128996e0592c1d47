"""Callback data parsing: every button's data is untrusted input (any client can forge it)."""

from __future__ import annotations

import re

# SQLite integers are signed 64-bit: a larger number would raise OverflowError in a query.
MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: str.isdigit() also accepts "²" and "١"


def parse_id(text: str) -> int | None:
    """A non-negative id from callback data, or None if it is not one SQLite can hold."""
    if not _DIGITS.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def fields(data: str | None, prefix: str, count: int) -> list[str] | None:
    """`prefix:a:b` split into exactly `count` fields after the prefix, or None."""
    if data is None:
        return None
    head, *rest = data.split(":")
    return rest if head == prefix and len(rest) == count else None


def ids(data: str | None, prefix: str, count: int) -> list[int] | None:
    """`prefix:1:2` as `count` bounded ids, or None if any field is not one."""
    parts = fields(data, prefix, count)
    if parts is None:
        return None
    values = [parse_id(p) for p in parts]
    return None if any(v is None for v in values) else [v for v in values if v is not None]
