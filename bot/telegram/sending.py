"""One send policy for bulk sends (tips, broadcasts): what a Bot API answer means, in one place.

`send` writes a claimed message when the pacer lets it, and turns Telegram's answer into an
`Outcome`. A 429 pauses the shared pacer here, once, so every sender on that budget waits as
Telegram asks. What each outcome does to the store stays with each sender: their rows differ.
"""

from __future__ import annotations

import enum
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.telegram.pacing import Pacer, bulk_send


class Outcome(enum.Enum):
    """What became of one send."""

    SENT = "sent"
    HELD = "held"  # never written: shutting down, or a 429 paused the budget meanwhile
    RETRY_AFTER = "retry after"  # 429: not delivered; the pacer is paused for `wait`
    BLOCKED = "blocked"  # Forbidden: the person blocked the bot
    GONE = "gone"  # "chat not found": the account is gone
    UNKNOWN = "unknown"  # the request left and no answer came: maybe delivered, never resent
    RETRYABLE = "retryable"  # failed before Telegram acted (5xx, reset, pool timeout)
    FAILED = "failed"  # refused (another 400) or any other Telegram error: trying again won't help


class HasMessageId(Protocol):
    """What a send returns: a Message (sendMessage) or a MessageId (copyMessage)."""

    @property
    def message_id(self) -> int: ...


@dataclass(frozen=True)
class Result:
    """An outcome, with the sent message's id, the 429's wait or the error behind it."""

    outcome: Outcome
    message_id: int | None = None
    wait: float = 0.0
    error: TelegramError | None = None


def retry_after_seconds(error: RetryAfter) -> float:
    """`retry_after` in seconds, whichever type this PTB version returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PTB 22 warns that the type will become timedelta
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def maybe_delivered(error: NetworkError) -> bool:
    """Whether Telegram may have acted on a call that failed this way.

    A 5xx answer, a refused connection or a pool timeout happen before Telegram acts; a call that
    timed out waiting for the answer may have been delivered, so at most once means not resending.
    """
    return isinstance(error, TimedOut) and "pool timeout" not in str(error).lower()


def chat_gone(error: TelegramError) -> bool:
    """Whether Telegram says the chat does not exist (a deleted account, a wrong id)."""
    return isinstance(error, BadRequest) and "chat not found" in str(error).lower()


def classify(error: TelegramError) -> Result:
    """The outcome a Telegram error means for a message that was written."""
    # Order matters: BadRequest and TimedOut are NetworkErrors in PTB.
    if isinstance(error, RetryAfter):
        return Result(Outcome.RETRY_AFTER, wait=retry_after_seconds(error), error=error)
    if isinstance(error, Forbidden):
        return Result(Outcome.BLOCKED, error=error)
    if chat_gone(error):
        return Result(Outcome.GONE, error=error)
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        late = maybe_delivered(error)
        return Result(Outcome.UNKNOWN if late else Outcome.RETRYABLE, error=error)
    return Result(Outcome.FAILED, error=error)


async def send(pacer: Pacer, call: Callable[[], Awaitable[HasMessageId]]) -> Result:
    """Write a claimed message when `pacer` allows (outside PTB's limiter) and classify the
    answer; a 429 pauses `pacer`, so everyone on that budget waits."""
    departure = await pacer.wire()
    if departure is None:  # held back: pending again, not waiting once claimed
        return Result(Outcome.HELD)
    try:
        with bulk_send(departure):  # never retried by PTB outside the budget: the caller decides
            message = await call()
    except TelegramError as exc:
        result = classify(exc)
        if result.outcome is Outcome.RETRY_AFTER:
            pacer.pause(result.wait)
        return result
    finally:
        departure.over()  # its place in the rolling second is settled, whatever became of it
    return Result(Outcome.SENT, message_id=message.message_id)
