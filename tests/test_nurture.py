"""Nurture through the real stack: tips on time, at most once, stopped when asked."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.nurture.sender import Nurture
from bot.store import Event
from bot.telegram.html import plain_text
from bot.telegram.pacing import Pacer
from tests.conftest import Harness
from tests.content import MAGNET, write_catalogue

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
DAY = 86400


async def lead_with_pdf(bot: Harness, user: int = ADA) -> None:
    await bot.text(user, "/start instagram")
    await bot.tap(user, "mag:what-to-wear")
    await bot.text(user, f"user{user}@example.com")
    await bot.tap(user, "ans:what-to-wear:family")


def tips_seen(bot: Harness, user: int = ADA) -> list[str]:
    return [
        s.text.split("\n")[0]
        for s in bot.chat(user)
        if any(d == "stp" for r in s.buttons for _, d in r)
    ]


async def advance(bot: Harness, seconds: float) -> int:
    bot.clock.now += seconds
    return await bot.svc.nurture.tick()


async def test_tips_arrive_in_order_once_each(bot: Harness) -> None:
    await lead_with_pdf(bot)
    assert await bot.svc.nurture.tick() == 0  # nothing due yet
    assert await advance(bot, DAY) == 1
    first = bot.last(ADA)
    assert first.text.startswith("Tip 1: pick your palette")
    assert [row[0][0] for row in first.buttons] == ["🔕 Stop messages from us"]
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.stage.value == "nurturing"
    # The clock jumps past every remaining delay at once: one tip per tick, in catalogue order.
    sent = [await advance(bot, 30 * DAY) for _ in range(5)]
    assert sent == [1, 1, 1, 0, 0]
    assert len(tips_seen(bot)) == 4
    magnet = bot.svc.catalogue.get("what-to-wear")
    assert magnet is not None
    expected = [plain_text(t.text["en"]).strip().split("\n")[0] for t in magnet.tips]
    assert tips_seen(bot) == expected
    assert await bot.svc.store.count_events(Event.TIP_SENT) == 4
    assert bot.last(ADA).buttons[0][0] == ("Get my personalised plan", "pln:what-to-wear:plan")


async def test_several_leads_due_at_once_go_out_in_one_tick(bot: Harness) -> None:
    for user in (2001, 2002, 2003):
        await lead_with_pdf(bot, user)
    assert await advance(bot, 2 * DAY) == 3


async def test_tip_due_at_night_waits_for_sending_hours(bot: Harness) -> None:
    bot.clock.now += 6 * 3600  # 22:13 in Paris: the capture happens at night
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 0  # due 22:13 the next day: outside 09:00-20:00
    assert await advance(bot, 10 * 3600) == 0  # 08:13: still too early
    assert await advance(bot, 3600) == 1  # 09:13
    tip = [c for c in bot.fake.calls if c.method == "sendMessage"][-1]
    assert "Tip 1: pick your palette" in tip.params["text"]


async def test_stop_button_cancels_and_opt_in_resumes_without_repeats(bot: Harness) -> None:
    await lead_with_pdf(bot)
    await advance(bot, DAY)
    await bot.tap_label(ADA, "🔕 Stop messages from us")
    assert bot.last(ADA).text == bot.t("stop_done")
    assert await advance(bot, 30 * DAY) == 0
    assert (await bot.svc.store.tips.counts()).get("cancelled") == 1
    await bot.tap(ADA, "mag:gardening-basics")
    await bot.tap_label(ADA, "Yes, opt me in again")
    assert await advance(bot, 3600) == 0  # no burst: the cancelled tip keeps its delay
    assert await advance(bot, 3 * DAY) == 1  # the 3 days it still had when they stopped
    await advance(bot, 30 * DAY)
    await advance(bot, 30 * DAY)
    texts = tips_seen(bot)
    assert len(texts) == len(set(texts))  # nothing twice


async def test_forget_removes_the_schedule(bot: Harness) -> None:
    await lead_with_pdf(bot)
    await bot.text(ADA, "/forget")
    await bot.tap_label(ADA, "Yes, erase my data")
    assert await bot.svc.store.tips.counts() == {}
    assert await advance(bot, 30 * DAY) == 0


async def test_blocked_mid_sequence(bot: Harness) -> None:
    await lead_with_pdf(bot)
    await advance(bot, DAY)
    bot.fake.block(ADA)
    assert await advance(bot, 30 * DAY) == 0
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.blocked_at is not None and lead.stage.value == "gone"
    assert await advance(bot, 30 * DAY) == 0
    assert await bot.svc.store.count_events(Event.BLOCKED) == 1


async def test_server_errors_retry_with_backoff(bot: Harness) -> None:
    await lead_with_pdf(bot)
    bot.fake.fail_next("sendMessage", 500, times=2)
    assert await advance(bot, DAY) == 0
    assert await advance(bot, 10) == 0  # backing off 30 s
    assert await advance(bot, 30) == 0  # a second 500: backing off 60 s
    assert await advance(bot, 30) == 0
    assert await advance(bot, 30) == 1
    assert len(tips_seen(bot)) == 1


async def test_a_timeout_may_have_delivered_so_the_tip_is_not_resent(bot: Harness) -> None:
    await lead_with_pdf(bot)
    bot.request.timeout_next(1, "sendMessage", delivered=True)  # sent, but the answer is lost
    assert await advance(bot, DAY) == 0
    assert len(tips_seen(bot)) == 1  # the user got it once
    assert (await bot.svc.store.tips.counts()).get("unknown") == 1
    assert await bot.svc.store.count_events(Event.TIP_UNKNOWN) == 1
    await advance(bot, 30 * DAY)  # the sequence goes on with the next tip, no repeat
    assert len(tips_seen(bot)) == 2 and len(set(tips_seen(bot))) == 2


async def test_too_many_requests_pauses_then_sends(bot: Harness) -> None:
    await lead_with_pdf(bot)
    bot.fake.fail_next("sendMessage", 429, retry_after=1)
    assert await advance(bot, DAY) == 0  # refused: pending again, the shared budget paused
    statuses = [c.status for c in bot.fake.calls if c.method == "sendMessage"]
    assert statuses[-1] == 429  # PTB's limiter did not retry it outside the budget
    assert await advance(bot, 0) == 1  # the next tick: once the pacer's pause is over
    statuses = [c.status for c in bot.fake.calls if c.method == "sendMessage"]
    assert statuses.count(429) == 1
    assert len(tips_seen(bot)) == 1


async def test_tip_in_flight_at_a_crash_is_unknown_never_resent(bot: Harness) -> None:
    await lead_with_pdf(bot)
    bot.clock.now += DAY
    [due] = await bot.svc.store.tips.due(int(bot.clock.now), 10)
    assert await bot.svc.store.tips.claim(due)  # then the process dies before Telegram answers
    restarted = Nurture(bot.svc, bot.app.bot, Pacer(20))
    assert await restarted.recover() == 1
    assert (await bot.svc.store.tips.counts()).get("unknown") == 1
    assert await bot.svc.store.count_events(Event.TIP_UNKNOWN) == 1
    await advance(bot, 30 * DAY)
    assert (
        tips_seen(bot) and "Tip 1: pick your palette" not in tips_seen(bot)[0]
    )  # the next tip, not a repeat


async def test_catalogue_edits_apply_to_running_sequences(
    bot_with: Callable[..., Awaitable[Harness]], tmp_path: Path
) -> None:
    content = tmp_path / "content"
    path = write_catalogue(content, MAGNET.format(id="alpha", question=""), ("alpha",))
    bot = await bot_with(catalogue_path=path, send_hours="00:00-24:00")
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:alpha")
    await bot.text(ADA, "ada@example.com")
    await bot.svc.nurture.tick()
    # The owner edits the catalogue: tip t1 reworded, t2 removed, t3 added; the bot restarts.
    edited = MAGNET.format(id="alpha", question="").replace("<b>Tip one</b>", "<b>Tip one v2</b>")
    edited = edited.replace('id = "t2"', 'id = "t3"')
    write_catalogue(content, edited, ("alpha",))
    bot2 = await bot_with(catalogue_path=path, send_hours="00:00-24:00")
    bot2.clock.now += 2
    await bot2.svc.nurture.tick()
    bot2.clock.now += 3
    await bot2.svc.nurture.tick()
    assert tips_seen(bot2) == ["Tip one v2 for alpha", "Tip two for alpha"]
    assert await bot2.svc.store.tips.scheduled_ids(ADA, "alpha") == {"t1", "t3"}


async def test_a_connection_reset_is_retried_and_delivers_once(bot: Harness) -> None:
    await lead_with_pdf(bot)
    bot.request.reset_next(1, "sendMessage")  # the connection drops before Telegram answers
    assert await advance(bot, DAY) == 0
    assert await advance(bot, 30) == 1
    assert len(tips_seen(bot)) == 1 and await bot.svc.store.count_events(Event.TIP_SENT) == 1
