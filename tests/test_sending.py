"""The send policy shared by tips and broadcasts: one outcome per kind of Bot API answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from telegram import MessageId
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.telegram.pacing import Pacer
from bot.telegram.sending import Outcome, Result, chat_gone, classify, send

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


def refusing(error: TelegramError) -> Callable[[], Awaitable[MessageId]]:
    """A send that Telegram answers with `error`."""

    async def call() -> MessageId:
        raise error

    return call


async def held(pacer: Pacer) -> bool:
    """Whether a send through `pacer` is held back, never written."""
    written: list[int] = []

    async def call() -> MessageId:
        written.append(1)
        return MessageId(1)

    return await send(pacer, call) == Result(Outcome.HELD) and not written


async def test_sent_carries_the_message_id() -> None:
    async def call() -> MessageId:
        return MessageId(42)

    assert await send(Pacer(1000), call) == Result(Outcome.SENT, message_id=42)


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), Outcome.BLOCKED),
        (BadRequest("Bad Request: chat not found"), Outcome.GONE),
        (BadRequest("Bad Request: message text is empty"), Outcome.FAILED),
        (TimedOut("Timed out"), Outcome.UNKNOWN),  # the request left: maybe delivered
        (TimedOut("Pool timeout: all connections are busy"), Outcome.RETRYABLE),  # never left
        (NetworkError("Bad Gateway"), Outcome.RETRYABLE),
        (ChatMigrated(-1001), Outcome.FAILED),  # any other Telegram error: recorded, not stuck
    ],
)
async def test_each_refusal_has_its_outcome(error: TelegramError, outcome: Outcome) -> None:
    result = await send(Pacer(1000), refusing(error))
    assert result == Result(outcome, error=error)
    assert classify(error) == result


async def test_a_429_pauses_the_shared_pacer_once() -> None:
    pacer = Pacer(1000)
    error = RetryAfter(7)
    result = await send(pacer, refusing(error))
    assert result == Result(Outcome.RETRY_AFTER, wait=7.0, error=error)
    # Every sender on that budget is held back now: nothing more is written during the pause.
    assert await held(pacer)


async def test_nothing_is_written_once_the_pacer_closed() -> None:
    pacer = Pacer(1000)
    pacer.close()
    assert await held(pacer)


def test_only_chat_not_found_means_gone() -> None:
    assert chat_gone(BadRequest("Bad Request: chat not found"))
    assert not chat_gone(BadRequest("Bad Request: wrong file identifier"))
    assert not chat_gone(Forbidden("Forbidden: chat not found"))
