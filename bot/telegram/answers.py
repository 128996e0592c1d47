"""Bot API answers nobody reads: PTB then builds no Message from them.

PTB turns every sendMessage, sendDocument or editMessage* answer into a `Message` (about a
hundred attributes, each through TelegramObject.__setattr__): about a sixth of a funnel
update's CPU (1.75 answers per update), though its replies are never read again. Calls made
inside `unread()` get `True` instead (what PTB already returns for an edit of an inline
message); the request, its retries and its errors are unchanged. Only for calls whose result
the caller drops.
"""

from __future__ import annotations

from contextvars import ContextVar

_UNREAD: ContextVar[bool] = ContextVar("answer_unread", default=False)

# The methods whose answer is a Message (PTB returns True as is for each of them).
MESSAGE_ANSWERS = frozenset(
    {
        "sendMessage",
        "sendDocument",
        "sendPhoto",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
    }
)


class unread:  # used like the function it was: `with unread():`
    """The Bot API calls made inside return True instead of the Message nobody reads.

    A class, not a generator-based context manager: it wraps most of a funnel update's sends
    (several per update), and a generator's set-up costs a few times more."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = _UNREAD.set(True)

    def __exit__(self, *exc: object) -> None:
        _UNREAD.reset(self._token)


def skips_answer(endpoint: str, result: object) -> bool:
    """Whether this answer goes unread: a Message answer inside `unread()`."""
    return _UNREAD.get() and endpoint in MESSAGE_ANSWERS and isinstance(result, dict)
