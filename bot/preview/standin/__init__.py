"""The in-process stand-in for the Bot API that `aimant preview` chats on (no network, no spec).

``StandIn`` answers and records like Telegram; ``StandInRequest`` plugs it into PTB. The tests'
fake (tests/fakeapi) builds on it: spec validation, an HTTP server, faults and rate limits.
"""

from bot.preview.standin.core import AnsweredCallback, ApiError, Call, Sent, StandIn
from bot.preview.standin.request import StandInRequest

__all__ = ["AnsweredCallback", "ApiError", "Call", "Sent", "StandIn", "StandInRequest"]
