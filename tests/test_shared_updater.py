"""SharedUpdater: once the database is lost, PTB's last getUpdates (the one that confirms what
was fetched) is skipped, so Telegram sends those updates again to the next poller; otherwise it
stops exactly as PTB's Updater does. It overrides a name-mangled PTB attribute: these tests fail
if PTB renames it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from telegram import Bot

from bot.telegram.polling import SharedUpdater
from tests.fakeapi import FakeRequest, FakeTelegram

TOKEN = "123:ABC"
USER = 42


def cleanup_calls(fake: FakeTelegram) -> list[dict[str, Any]]:
    """PTB's last getUpdates: no long poll (the test's own polls wait up to 30 s)."""
    return [
        c.params
        for c in fake.calls
        if c.method == "getUpdates" and str(c.params.get("timeout")) in ("0", "0.0")
    ]


async def polled_then_stopped(lost: bool) -> FakeTelegram:
    """Poll until one update is fetched, then stop (with the database lost, or not)."""
    fake = FakeTelegram()
    fake.add_user(USER, first_name="Bob")
    queue: asyncio.Queue[Any] = asyncio.Queue()
    async with Bot(TOKEN, request=FakeRequest(fake), get_updates_request=FakeRequest(fake)) as bot:
        updater = SharedUpdater(bot=bot, update_queue=queue)
        async with updater:
            await updater.start_polling(poll_interval=0, timeout=30)  # cut short by stop()
            fake.message(USER, "hello")
            deadline = time.monotonic() + 5
            while queue.empty():
                assert time.monotonic() < deadline, "the update was never fetched"
                await asyncio.sleep(0.01)
            updater.lost = lost
            await updater.stop()
    return fake


@pytest.mark.parametrize("lost", [False, True])
async def test_the_last_get_updates_is_skipped_only_once_the_database_is_lost(lost: bool) -> None:
    fake = await polled_then_stopped(lost)
    assert (cleanup_calls(fake) == []) is lost
    assert fake.has_updates(0) is lost  # not confirmed: Telegram sends it to the next poller
    assert fake.violations == []
