"""Replies are never lost to Telegram's refusals: 429s waited out (never before retry_after, the
bulk pacer paused meanwhile), a transient failure has its update handled again (nothing sent
twice), a replayed button press is harmless and quiet, and one private chat gets no more than
Telegram's short bursts."""

from __future__ import annotations

import asyncio
import collections
import itertools
import logging
import time
from pathlib import Path

import pytest
from telegram import Update
from telegram.error import NetworkError

from bot.store import Event
from bot.telegram import replies
from bot.telegram.intake import IntakeProcessor
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


@pytest.mark.chat_pacing
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


class Calls:
    """A stand-in for PTB's request: counts the calls made, answers each with its number."""

    def __init__(self) -> None:
        self.made: list[dict[str, object]] = []

    async def __call__(self, data: dict[str, object]) -> int:
        self.made.append(data)
        return len(self.made)


async def call(
    limiter: replies.ReplyRateLimiter, calls: Calls, endpoint: str, **data: object
) -> int:
    result = await limiter.process_request(calls, (data,), {}, endpoint, data, None)
    assert isinstance(result, int)
    return result


@pytest.mark.chat_pacing
async def test_a_busy_chat_holds_a_reply_at_most_a_moment() -> None:
    limiter = replies.ReplyRateLimiter(overall_max_rate=0)
    calls = Calls()
    loop = asyncio.get_running_loop()
    # The owner's chat had its 60 messages this minute (alerts from every prospect's handler).
    limiter._chats[OWNER] = collections.deque([loop.time() - 1.0] * 60, maxlen=60)
    started = loop.time()
    await call(limiter, calls, "sendMessage", chat_id=OWNER, text="a new lead")
    # Sent at once (a 429, if any, is waited out), not ~59 s later holding an update slot.
    assert loop.time() - started < 0.5
    assert len(calls.made) == 1


@pytest.mark.chat_pacing
async def test_a_short_burst_still_waits_its_turn() -> None:
    limiter = replies.ReplyRateLimiter(overall_max_rate=0)
    calls = Calls()
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(replies.CHAT_BURST + 1):
        await call(limiter, calls, "sendMessage", chat_id=ADA, text=str(n))
    waited = loop.time() - started
    assert 1.0 <= waited <= replies.CHAT_MAX_WAIT  # the 4th waited for the next second


async def test_a_retry_replays_the_first_calls_whatever_their_content() -> None:
    limiter = replies.ReplyRateLimiter(overall_max_rate=0)
    calls = Calls()
    answers: list[int] = []

    async def first() -> None:
        answers.append(await call(limiter, calls, "sendMessage", chat_id=OWNER, text="12 leads"))
        answers.append(await call(limiter, calls, "answerCallbackQuery", callback_query_id="q"))
        assert replies.retry_later(NetworkError("lost"))

    async def second() -> None:
        # Live data changed meanwhile, and another branch is taken: the same two calls first.
        answers.append(await call(limiter, calls, "sendMessage", chat_id=OWNER, text="13 leads"))
        answers.append(await call(limiter, calls, "answerCallbackQuery", callback_query_id="q"))
        answers.append(await call(limiter, calls, "sendMessage", chat_id=OWNER, text="more"))
        answers.append(await call(limiter, calls, "sendMessage", chat_id=ADA, text="hi"))

    assert await replies.handle(1, first(), second, lambda: True)
    # Only the calls beyond those of the first handling went out.
    assert [c.get("text") for c in calls.made] == ["12 leads", None, "more", "hi"]
    assert answers == [1, 2, 1, 2, 3, 4]


async def test_tasks_an_update_starts_are_not_journaled() -> None:
    limiter = replies.ReplyRateLimiter(overall_max_rate=0)
    calls = Calls()
    tasks: list[asyncio.Task[None]] = []

    async def broadcast() -> None:
        for n in range(3):
            await call(limiter, calls, "sendMessage", chat_id=ADA, text=str(n))
        assert not replies.will_retry(NetworkError("lost"))  # not the update's own failure

    async def first() -> None:
        tasks.append(asyncio.create_task(broadcast()))  # inherits the update's context
        await tasks[0]
        attempt = replies._ATTEMPT.get()
        assert attempt is not None and not attempt.journal  # the broadcast's calls: its own

    assert await replies.handle(1, first(), None, lambda: True)
    assert len(calls.made) == 3


async def test_a_stopping_process_handles_no_update_again(bot: Harness) -> None:
    processor = bot.app.update_processor
    assert isinstance(processor, IntakeProcessor)
    bot.request.reset_next(1, "sendMessage")

    async def stop_meanwhile() -> None:
        await asyncio.sleep(0.1)
        processor.stopping = True  # what AimantApplication.stop does first

    stopping = asyncio.create_task(stop_meanwhile())
    update = bot.fake.build_message(ADA, "/start")
    await bot.send(update)
    await stopping
    bot.errors.clear()
    # Not handled again, not marked done: the next start replays it.
    assert welcomes(bot) == 0
    assert not await bot.svc.store.intake.is_done(update["update_id"])
    processor.stopping = False


async def test_a_draft_whose_summary_was_lost_is_made_once_and_its_link_added_once(
    bot: Harness,
) -> None:
    """The owner's message handled again after the draft's summary failed to go: the same draft
    (no second, unused one), and a link typed then is added once."""
    await bot.text(OWNER, "/broadcast")
    bot.request.reset_next(1, "sendMessage")  # the draft's summary dies on the way
    await bot.text(OWNER, "Spring sale: 20% off all week")
    assert [type(e) for e in bot.errors] == [NetworkError]
    bot.errors.clear()
    assert bot.last(OWNER).text.startswith("📣 Broadcast #1:")
    assert await bot.svc.store.broadcasts.get(2) is None  # one draft made, not two
    await bot.tap_label(OWNER, "🔗 Add a link button")
    bot.request.reset_next(1, "sendMessage")
    await bot.text(OWNER, "Book now https://example.com/book")
    assert [type(e) for e in bot.errors] == [NetworkError]
    bot.errors.clear()
    draft = await bot.svc.store.broadcasts.get(1)
    assert draft is not None and draft.links == [("Book now", "https://example.com/book")]
    assert "Link buttons: Book now. " in bot.chat(OWNER)[-2].text
    assert not await bot.svc.store.intake.pending()
