"""Answers nobody reads (bot.telegram.answers): sent the same, not turned into a Message."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import Message
from telegram.constants import ParseMode
from telegram.error import Forbidden
from telegram.ext import Defaults

from bot.telegram.answers import unread
from bot.telegram.intake import IntakeBot
from tests.fakeapi import FakeRequest, FakeTelegram

ADA = 4242


@pytest.fixture
async def bot_and_fake() -> AsyncIterator[tuple[IntakeBot, FakeTelegram]]:
    """Aimant's bot class against the fake, with its default parse mode."""
    fake = FakeTelegram()
    fake.add_user(ADA)
    bot = IntakeBot(
        "123456:ANSWERS-token",
        base_url="http://fake.invalid/bot",
        request=FakeRequest(fake),
        get_updates_request=FakeRequest(fake),
        defaults=Defaults(parse_mode=ParseMode.HTML),
    )
    async with bot:
        yield bot, fake


async def test_an_unread_answer_is_sent_the_same_and_not_parsed(
    bot_and_fake: tuple[IntakeBot, FakeTelegram],
) -> None:
    bot, fake = bot_and_fake
    read = await bot.send_message(ADA, "<b>one</b>")
    with unread():
        skipped = await bot.send_message(ADA, "<b>two</b>")
        edited = await bot.edit_message_text("<b>three</b>", ADA, read.message_id)
    assert isinstance(read, Message)
    assert skipped is True and edited is True
    assert fake.texts_to(ADA) == ["three", "two"]  # both arrived, HTML parsed as before
    assert [c.params.get("parse_mode") for c in fake.calls[-2:]] == ["HTML", "HTML"]
    again = await bot.send_message(ADA, "four")  # outside the block: a Message again
    assert isinstance(again, Message)


async def test_errors_still_raise_inside_unread(
    bot_and_fake: tuple[IntakeBot, FakeTelegram],
) -> None:
    bot, fake = bot_and_fake
    fake.block(ADA)
    with unread(), pytest.raises(Forbidden):
        await bot.send_message(ADA, "blocked")
