"""Faults the tests inject: Telegram's error answers (``Fault``) and network failures."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from telegram.error import NetworkError

from bot.preview.standin.errors import CONFLICT

_DEFAULT_ERRORS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass
class Fault:
    """A planned failure of the next ``times`` calls of ``method`` (None: any but getUpdates)."""

    method: str | None
    status: int
    times: int
    retry_after: int | None
    description: str | None
    chat_ids: frozenset[int] | None = None  # only calls to these chats (None: any chat)


@dataclass
class NetFault:
    """A planned network failure of the next ``times`` PTB requests (FakeRequest)."""

    method: str | None
    times: int
    error: type[NetworkError]
    delivered: bool


def describe(status: int, retry_after: int | None) -> str:
    """Telegram's description for an injected error status."""
    if status == 429:
        return f"Too Many Requests: retry after {retry_after}"
    if status in _DEFAULT_ERRORS:
        return _DEFAULT_ERRORS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"Error {status}"
