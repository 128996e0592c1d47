"""Replies are never lost to Telegram's refusals: 429s waited out (never before retry_after, the
bulk pacer paused meanwhile), a transient failure has its update handled again (nothing sent
twice), a replayed button press is harmless and quiet, and one private chat gets no more than
Telegram's short bursts."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from pathlib import Path

import pytest
from telegram import Update
from telegram.error import NetworkError

from bot.store import Event
from bot.telegram import replies
from tests.conftest import OWNER, Clock, Harness, make_settings, start_harness, stop_harness
from tests.fakeapi import FakeTelegram
from tests.fakeapi.records import Call, busiest_second
from tests.test_funnel import ADA, WEAR

WELCOME = "Hello Ada!"


def timed(bot: Harness) -> list[tuple[float, Call]]:
    """Every call the fake answers from now on, with the moment it was answered (loop time)."""
    seen: list[tuple[float, Call]] = []
    bot.fake.watch(lambda call: seen.append((time.monotonic(), call)))
    return seen


def welcomes(bot: Harness) -> int:
    return sum(1 for text in bot.texts(ADA) if text.startswith(WELCOME))


async def test_a_reply_refused_five_times_by_429_arrives_after_the_waits(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    seen = timed(bot)
    bot.fake.fail_next("sendMessage", 429, times=5, retry_after=1)
    await bot.text(ADA, "/start")
    assert welcomes(bot) == 1
    tries = [(at, c.status) for at, c in seen if c.method == "sendMessage"]
    assert [status for _, status in tries] == [429] * 5 + [200]
    # Each try came after the previous 429's retry_after (1 s) had elapsed, never before.
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(tries)]
    assert all(gap >= 1.0 for gap in gaps), gaps
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bot.t("error") not in bot.texts(ADA)


async def test_a_replys_429_pauses_the_bulk_sends(bot: Harness) -> None:
    bot.fake.fail_next("sendMessage", 429, times=1, retry_after=1)
    started = asyncio.get_running_loop().time()
    await bot.text(ADA, "/start")
    # Replies come first: tips and broadcasts got no slot during the reply's retry_after.
    assert bot.svc.broadcaster.bulk.paused_until >= started + 1.0
    assert welcomes(bot) == 1


async def test_a_reply_lost_to_the_network_has_its_update_handled_again_once(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.tap_label(ADA, WEAR)
    await bot.text(ADA, "ada@example.com")
    before = len(bot.chat(ADA))
    answered = len(bot.fake.answered_callbacks)
    bot.request.reset_next(1, "sendDocument")  # the PDF's upload dies on the way
    await bot.tap_label(ADA, "Family or kids")
    assert [type(e) for e in bot.errors] == [NetworkError]
    bot.errors.clear()
    after = bot.chat(ADA)[before:]
    # The second handling reused what the first got (the query's answer, the edit): the person
    # gets the PDF and what follows once, no "something went wrong", nothing answered twice.
    assert [s.document for s in after] == ["what-to-wear.en.pdf", None]
    assert after[1].text.startswith("Enjoy the read!")
    assert len(bot.fake.answered_callbacks) == answered + 1
    assert bot.t("error") not in bot.texts(ADA)
    assert await bot.svc.store.leads.lead_magnets(ADA)
    assert not await bot.svc.store.intake.pending()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_the_message_after_the_pdf_lost_sends_it_alone_again(bot: Harness) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.tap_label(ADA, WEAR)
    await bot.text(ADA, "ada@example.com")
    before = len(bot.chat(ADA))
    bot.request.reset_next(1, "sendMessage")  # "Enjoy the read!" dies on the way
    await bot.tap_label(ADA, "Family or kids")
    assert [type(e) for e in bot.errors] == [NetworkError]
    bot.errors.clear()
    after = bot.chat(ADA)[before:]
    # The PDF went the first time: the second handling does not send it again (its upload
    # and a send by file id are the same call), and still sends what follows it.
    assert [s.document for s in after] == ["what-to-wear.en.pdf", None]
    assert after[1].text.startswith("Enjoy the read!")
    assert await bot.svc.store.count_events(Event.DOWNLOAD) == 1


async def test_a_reply_failing_every_time_ends_in_the_friendly_error(bot: Harness) -> None:
    bot.request.reset_next(replies.ATTEMPTS, "sendMessage")
    await bot.text(ADA, "/start")
    assert len(bot.errors) == replies.ATTEMPTS
    bot.errors.clear()
    # Tried ATTEMPTS times, then told and marked done: never a loop.
    assert bot.texts(ADA) == [bot.t("error")]
    assert not await bot.svc.store.intake.pending()


async def test_a_replayed_button_press_is_quiet(
    bot: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    await bot.text(ADA, "/start instagram")
    await bot.tap_label(ADA, WEAR)
    await bot.text(ADA, "ada@example.com")
    question = bot.last(ADA)
    press = bot.fake.build_callback(
        ADA, question.buttons[0][0][1], message_id=question.message_id, check=False
    )
    await bot.app.process_update(Update.de_json(press, bot.app.bot))  # then died, not marked
    before = len(bot.chat(ADA))
    await bot.send(press)  # replayed after the restart: answered and redrawn again
    # Telegram refuses the second answer ("query is too old") and the same redraw ("not
    # modified"): both harmless, neither an error logged nor a "something went wrong".
    again = ("query is too old", "message is not modified")
    assert not [v for v in bot.fake.violations if not any(a in v for a in again)]
    bot.fake.violations.clear()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert bot.t("error") not in bot.texts(ADA)[before:]
    assert not await bot.svc.store.intake.pending()


async def test_the_owners_draft_and_preview_stay_within_the_chats_limit(
    tmp_path: Path, clock: Clock
) -> None:
    fake = FakeTelegram(clock=time.time)  # Telegram's limits, on the real clock
    fake.strict()
    bot = await start_harness(make_settings(tmp_path), fake, clock)
    try:
        seen = timed(bot)
        await bot.text(OWNER, "/broadcast Big news for everyone")  # its summary, its picker
        await bot.tap(OWNER, bot.last(OWNER).buttons[0][0][1])  # the preview, its buttons
        sends = [at for at, c in seen if c.method in ("sendMessage", "copyMessage")]
        assert len(sends) >= 4
        # Within Telegram's short bursts into one chat, so never refused: no 429 to retry.
        assert not [c for _, c in seen if c.status == 429]
        assert busiest_second(sends) <= replies.CHAT_BURST
    finally:
        await stop_harness(bot)
    assert not bot.errors and not fake.violations
