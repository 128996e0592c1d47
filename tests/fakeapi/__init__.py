"""The fake Telegram Bot API the tests and benches run against (see bot/preview/fake for now)."""

from bot.preview.fake import (
    DEFAULT_SPEC_PATH,
    AnsweredCallback,
    ApiError,
    Call,
    FakeRequest,
    FakeTelegram,
    FakeTelegramServer,
    Sent,
    Spec,
    load_spec,
)

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
