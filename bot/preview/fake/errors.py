"""Telegram's error answers: ``ApiError``, its texts, and injected faults."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus

from bot.preview.fake.records import JSON

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_DEFAULT_ERRORS = {
    400: "Bad Request: injected error",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: CONFLICT,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """A Telegram error answer; ``violation`` marks it as the bot's fault."""

    def __init__(
        self,
        status: int,
        description: str,
        *,
        violation: bool = False,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.violation = violation
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id

    def body(self) -> JSON:
        """The JSON Telegram answers with."""
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        parameters: JSON = {}  # ResponseParameters
        if self.retry_after is not None:
            parameters["retry_after"] = self.retry_after
        if self.migrate_to_chat_id is not None:
            parameters["migrate_to_chat_id"] = self.migrate_to_chat_id
        if parameters:
            body["parameters"] = parameters
        return body


MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"


def bad(description: str) -> ApiError:
    """A 400 Bad Request that is the bot's fault."""
    return ApiError(400, f"Bad Request: {description}", violation=True)


@dataclass
class Fault:
    """A planned failure of the next ``times`` calls of ``method`` (None: any but getUpdates)."""

    method: str | None
    status: int
    times: int
    retry_after: int | None
    description: str | None
    chat_ids: frozenset[int] | None = None  # only calls to these chats (None: any chat)


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
