"""The fake Telegram Bot API the tests and benches run against.

``FakeTelegram`` is the preview's stand-in (bot/preview/standin) plus what only tests need: the
spec validation (spec.py, against the copy in telegram-bot-api/), forums, injected faults and
rate limits; ``FakeRequest`` plugs it into PTB in-process and ``FakeTelegramServer`` serves it
over HTTP for a bot running in another process.
"""

from tests.fakeapi.core import AnsweredCallback, ApiError, Call, FakeTelegram, Sent
from tests.fakeapi.request import FakeRequest
from tests.fakeapi.server import FakeTelegramServer
from tests.fakeapi.spec import DEFAULT_SPEC_PATH, Spec, load_spec

__all__ = [
    "DEFAULT_SPEC_PATH",
    "AnsweredCallback",
    "ApiError",
    "Call",
    "FakeRequest",
    "FakeTelegram",
    "FakeTelegramServer",
    "Sent",
    "Spec",
    "load_spec",
]
