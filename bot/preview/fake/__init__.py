"""A fake Telegram Bot API for tests: spec-validated, recording, with fault injection.

``FakeTelegram`` is the core; ``FakeRequest`` plugs it into PTB in-process and
``FakeTelegramServer`` serves it over HTTP for a bot running in another process.
"""

from bot.preview.fake.core import AnsweredCallback, ApiError, Call, FakeTelegram, Sent
from bot.preview.fake.request import FakeRequest
from bot.preview.fake.server import FakeTelegramServer
from bot.preview.fake.spec import DEFAULT_SPEC_PATH, Spec, load_spec

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
