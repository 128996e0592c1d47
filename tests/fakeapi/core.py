from bot.preview.fake.core import *  # noqa: F403
from bot.preview.fake.core import FakeTelegram, Files, Sent  # noqa: F401
