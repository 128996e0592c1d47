"""Telegram's error answers: ``ApiError`` and the texts the stand-in answers with."""

from __future__ import annotations

from bot.preview.standin.records import JSON

CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)


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


def bad(description: str) -> ApiError:
    """A 400 Bad Request that is the bot's fault."""
    return ApiError(400, f"Bad Request: {description}", violation=True)
