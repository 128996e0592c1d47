"""Tips know when to stop: ready to talk ends the sequences (but tips kept `after_hot`), the
sending hours in force apply to waiting tips, and an opt-in again is not a burst."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from bot.content.catalogue import Tip
from bot.nurture.schedule import next_in_sequence, resumed_due
from tests.conftest import Harness
from tests.content import MAGNET, write_catalogue
from tests.test_nurture import advance, lead_with_pdf, tips_seen

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001
DAY = 86400
Make = Callable[..., Awaitable[Harness]]

# alpha: t1 (2 s), t2 (3 s, with the plan button), then t3 (4 s) kept for people ready to talk.
KEPT = """
[[magnets.tips]]
id = "t3"
delay = "4s"
after_hot = true
text = { en = "What to expect at our first meeting", fr = "Notre premier rendez-vous" }
"""


async def kept_bot(bot_with: Make, tmp_path: Path) -> Harness:
    body = MAGNET.format(id="alpha", question="") + KEPT
    path = write_catalogue(tmp_path / "content", body, ("alpha",))
    bot = await bot_with(catalogue_path=path, send_hours="00:00-24:00")
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:alpha")
    await bot.text(ADA, "ada@example.com")
    return bot


async def test_asking_for_the_plan_ends_the_sequence(bot: Harness) -> None:
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 1
    await bot.text(ADA, "/plan")
    assert [await advance(bot, 30 * DAY) for _ in range(4)] == [0, 0, 0, 0]
    assert len(tips_seen(bot)) == 1
    assert await bot.svc.store.tips.counts() == {"sent": 1, "ended": 1}
    # A guide asked for later starts no sequence for someone ready to talk.
    await bot.tap(ADA, "mag:gardening-basics")
    await bot.tap(ADA, "ans:gardening-basics:garden")
    assert [await advance(bot, 30 * DAY) for _ in range(3)] == [0, 0, 0]
    assert await bot.svc.store.tips.scheduled_ids(ADA, "gardening-basics") == set()


async def test_at_start_people_ready_to_talk_keep_only_kept_tips(bot: Harness) -> None:
    await lead_with_pdf(bot)
    await bot.text(ADA, "/plan")
    # A tip left pending from before (an older version, or a catalogue marking it kept then).
    assert await bot.svc.store.tips.schedule(ADA, "what-to-wear", "layers", int(bot.clock.now))
    await bot.svc.nurture.recover()  # what the next start does
    assert await advance(bot, DAY) == 0
    assert (await bot.svc.store.tips.counts()).get("ended") == 2


async def test_contact_and_own_words_end_it_too(bot: Harness) -> None:
    await lead_with_pdf(bot, 2001)
    await lead_with_pdf(bot, 2002)
    await lead_with_pdf(bot, 2003)
    assert await advance(bot, DAY) == 3
    await bot.text(2001, "/contact Can we talk next week?")
    await bot.text(2002, "I would like to book a call")
    await advance(bot, 30 * DAY)
    await advance(bot, 30 * DAY)
    assert [len(tips_seen(bot, u)) for u in (2001, 2002, 2003)] == [1, 1, 3]
    for user in (2001, 2002):
        lead = await bot.svc.store.leads.get(user)
        assert lead is not None and lead.stage.value == "hot"


async def test_stopped_then_ready_to_talk_then_back_gets_no_tips(bot: Harness) -> None:
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 1
    await bot.text(ADA, "/stop")
    await bot.text(ADA, "/contact hello")  # ready to talk while paused: the paused tip ends
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.tap_label(ADA, "Yes, opt me in again")
    assert [await advance(bot, 30 * DAY) for _ in range(3)] == [0, 0, 0]


async def test_a_tip_marked_after_hot_is_kept(bot_with: Make, tmp_path: Path) -> None:
    bot = await kept_bot(bot_with, tmp_path)
    assert await advance(bot, 2) == 1  # t1
    await bot.text(ADA, "/plan")  # t2 (due in 3 s) ends; t3 takes its place
    assert await advance(bot, 3) == 0
    assert await advance(bot, 4) == 1
    assert tips_seen(bot) == ["Tip one for alpha", "What to expect at our first meeting"]
    assert await bot.svc.store.tips.counts() == {"sent": 2, "ended": 1}


async def test_ready_to_talk_while_a_tip_is_in_flight(bot_with: Make, tmp_path: Path) -> None:
    bot = await kept_bot(bot_with, tmp_path)
    store, nurture = bot.svc.store, bot.svc.nurture
    bot.clock.now += 2
    [tip] = await store.tips.due(int(bot.clock.now), 10)
    then = await nurture.next_tip(ADA, "alpha", bot.clock.now)  # chosen before the plan: t2
    assert then is not None and then[0] == "t2"
    assert await store.tips.claim(tip)
    await bot.text(ADA, "/plan")  # while t1 is on its way
    await store.tips.sent(tip, 1, then)  # t1 arrives; its sender schedules what it had chosen
    assert [await advance(bot, 5) for _ in range(3)] == [1, 0, 0]
    assert tips_seen(bot) == ["What to expect at our first meeting"]  # t1 left by hand above
    assert (await store.tips.counts()).get("ended") == 1


async def test_new_sending_hours_apply_to_waiting_tips(bot_with: Make) -> None:
    bot = await bot_with(send_hours="09:00-20:00")
    bot.clock.now += 6 * 3600  # 22:13 in Paris: the first tip is due at 22:13 tomorrow
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 0  # waits for 09:00
    # The owner widens the hours to 07:00-23:00 and restarts (same database).
    widened = await bot_with(send_hours="07:00-23:00")
    assert await advance(widened, 60) == 1  # 22:14: inside the new hours, it goes now
    widened.clock.now += 3 * DAY  # the next tip falls due at 22:14 too
    assert await widened.svc.nurture.tick() == 1


async def test_new_opening_after_a_restart(bot_with: Make) -> None:
    bot = await bot_with(send_hours="09:00-20:00")
    bot.clock.now += 6 * 3600
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 0  # 22:13: postponed to 09:00
    earlier = await bot_with(send_hours="07:00-20:00")  # restarted with an earlier opening
    assert await advance(earlier, 60) == 0  # 22:14: still night, now waiting for 07:00
    assert await advance(earlier, 8 * 3600 + 45 * 60) == 0  # 06:59
    assert await advance(earlier, 120) == 1  # 07:01, not 09:00


async def test_opt_in_again_offers_the_pdf_and_keeps_the_delay(bot: Harness) -> None:
    await lead_with_pdf(bot)
    assert await advance(bot, DAY) == 1  # tip 1; tip 2 is due 3 days later
    await advance(bot, DAY)
    await bot.text(ADA, "/stop")  # 2 days left before tip 2
    await advance(bot, 10 * DAY)
    documents = sum(1 for s in bot.chat(ADA) if s.document)
    await bot.tap(ADA, "mag:what-to-wear")
    await bot.tap_label(ADA, "Yes, opt me in again")
    back = bot.last(ADA)
    assert back.buttons == [[(bot.t("btn_send_again"), "mag:what-to-wear")]]
    assert sum(1 for s in bot.chat(ADA) if s.document) == documents  # not pushed again
    assert await advance(bot, 3600) == 0  # no tip right after the opt-in
    assert await advance(bot, 2 * DAY - 3600) == 1  # the 2 days it still had to wait
    await bot.tap_label(ADA, bot.t("btn_send_again"))
    assert sum(1 for s in bot.chat(ADA) if s.document) == documents + 1  # on request


def test_sequence_rules() -> None:
    tips = [
        Tip(id=i, delay="1d", text={"en": i}, after_hot=kept)
        for i, kept in (("a", False), ("b", False), ("c", True))
    ]
    assert next_in_sequence(tips, {"a"}, hot=False) is tips[1]
    assert next_in_sequence(tips, {"a"}, hot=True) is tips[2]  # only a kept tip
    assert next_in_sequence(tips, {"a", "b", "c"}, hot=False) is None
    # Resumed after an opt-in at 1000: the wait left when they stopped at 100, else the delay.
    assert resumed_due(due_at=300, left_at=100, now=1000, delay=500) == 1200
    assert resumed_due(due_at=50, left_at=100, now=1000, delay=500) == 1500
