"""What the tests' fake records: the stand-in's records, plus arrivals and their busiest second."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.preview.standin.records import (
    JSON,
    AnsweredCallback,
    Buttons,
    Call,
    Files,
    Sent,
    StoredFile,
    buttons_of,
    visible_text,
)

__all__ = [
    "JSON",
    "AnsweredCallback",
    "Arrival",
    "Buttons",
    "Call",
    "Files",
    "Sent",
    "StoredFile",
    "busiest_second",
    "buttons_of",
    "visible_text",
]


@dataclass(frozen=True)
class Arrival:
    """A request as it reached the fake, before latency, holds and answers (kill tests)."""

    at: float
    method: str
    chat_id: Any
    text: str | None  # a message's text, to tell a tip from a broadcast
    via: str | None = None  # the name of the server it came through (one per bot process)


def busiest_second(times: list[float]) -> int:
    """The most of these moments that fall within any rolling second."""
    ordered, most, first = sorted(times), 0, 0
    for last, moment in enumerate(ordered):
        while ordered[first] <= moment - 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most
