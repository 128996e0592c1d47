from bot.preview.fake.records import *  # noqa: F403
from bot.preview.fake.records import JSON, Sent, busiest_second  # noqa: F401
