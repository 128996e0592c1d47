"""Broadcasts sent later: scheduled in the business's zone, durable, sent by the tick when due."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.broadcast.report import report_details
from bot.broadcast.schedule import run_due
from tests.conftest import OWNER, Clock, Harness, make_settings, start_harness, stop_harness
from tests.fakeapi import FakeTelegram
from tests.test_broadcast_compose import copies, go_button, make_lead, picker_of, segment

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


PARIS = ZoneInfo("Europe/Paris")
MONDAY_9 = int(datetime(2026, 9, 28, 9, 0, tzinfo=PARIS).timestamp())  # the clock: Mon 21, 16:13


def button(bot: Harness, label: str, user: int = OWNER) -> str:
    """The data of the latest button with this label."""
    for sent in reversed(bot.chat(user)):
        for row in sent.buttons:
            for text, data in row:
                if text == label:
                    return str(data)
    raise AssertionError(f"no button {label!r}")


async def draft_to(bot: Harness, text: str = "Open day on Saturday", seg: str = "All") -> int:
    """`/broadcast <text>`, a segment, then "Send later…": the owner is asked when."""
    await bot.text(OWNER, f"/broadcast {text}")
    broadcast_id, _ = picker_of(bot)
    await bot.tap(OWNER, segment(bot, seg))
    await bot.tap(OWNER, button(bot, "🕘 Send later…"))
    assert bot.last(OWNER).text.startswith("When should it go? Type a date and time in Europe")
    return broadcast_id


async def test_photo_in_two_languages_with_a_button_next_monday_survives_a_restart(
    tmp_path: Path, fake: FakeTelegram, clock: Clock
) -> None:
    settings = make_settings(tmp_path, bulk_rate=5)
    bot = await start_harness(settings, fake, clock)
    for user, language in ((100, "fr"), (101, "fr"), (102, "en"), (103, "en"), (104, "en")):
        await make_lead(bot, user, language)
    await bot.text(OWNER, "/broadcast")
    english = bot.fake.build_photo(OWNER, caption="New collection: book your fitting")
    await bot.send(english)
    await bot.tap(OWNER, button(bot, "➕ Add the French version"))
    french = bot.fake.build_photo(OWNER, caption="Nouvelle collection : réservez")
    await bot.send(french)
    await bot.tap(OWNER, button(bot, "🔗 Add a link button"))
    await bot.text(OWNER, "Book now https://example.com/book")
    broadcast_id, _ = picker_of(bot)
    await bot.tap(OWNER, segment(bot, "All subscribed leads"))
    await bot.tap(OWNER, button(bot, "🕘 Send later…"))
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    assert bot.last(OWNER).text == (
        f"🕘 Broadcast #{broadcast_id} goes on 2026-09-28 09:00 (Europe/Paris) to All subscribed"
        " leads: 5 people now."
    )
    await run_due(bot.svc, bot.app.bot)  # not yet due
    assert all(not copies(bot, u) for u in range(100, 105))
    await stop_harness(bot)
    assert not bot.errors

    bot = await start_harness(settings, fake, clock)  # the same database, a new process
    try:
        await bot.text(OWNER, "/broadcast")
        listed = [s.text for s in bot.chat(OWNER)[-3:]]
        assert any(t.startswith(f"🕘 Broadcast #{broadcast_id} goes on 2026-09-28") for t in listed)
        clock.now = MONDAY_9
        began = time.monotonic()
        await run_due(bot.svc, bot.app.bot)
        await run_due(bot.svc, bot.app.bot)  # a second tick meanwhile starts nothing twice
        await bot.svc.broadcaster.wait(broadcast_id)
        assert time.monotonic() - began >= 0.7  # 5 copies at BULK_RATE=5: spaced, not a burst
        english_id = english["message"]["message_id"]
        french_id = french["message"]["message_id"]
        for user in range(100, 105):
            [got] = copies(bot, user)  # once each
            assert got.params["message_id"] == (french_id if user < 102 else english_id)
            assert "photo" in got.message
            assert got.buttons[0] == [("Book now", "https://example.com/book")]
        report = next(s.text for s in reversed(bot.chat(OWNER)) if "finished" in s.text)
        assert report.startswith(f"✅ Broadcast #{broadcast_id} finished: sent 5, blocked 0")
        assert report.splitlines()[1:] == [  # per language, and what no bot can count
            "English: sent 3 of 3, stop button clicks 0.",
            "French: sent 2 of 2, stop button clicks 0.",
            "Link buttons (Book now): Telegram does not tell bots when a link button is tapped,"
            " so their clicks cannot be counted here.",
        ]
        await bot.tap(100, f"stp:{broadcast_id}")  # a French lead unsubscribes from it
        broadcast = await bot.svc.store.broadcasts.get(broadcast_id)
        assert broadcast is not None
        details = await report_details(bot.svc, broadcast)
        assert "French: sent 2 of 2, stop button clicks 1." in details
        await run_due(bot.svc, bot.app.bot)
        assert all(len(copies(bot, u)) == 1 for u in range(100, 105))
    finally:
        await stop_harness(bot)
    assert not bot.errors and not fake.violations


async def test_bad_dates_are_refused(bot: Harness) -> None:
    await make_lead(bot, 100, "en")
    broadcast_id = await draft_to(bot)
    for typed, key in (
        ("next week", "bc_when_bad"),
        ("2026-02-30 09:00", "bc_when_bad"),
        ("2026-09-21 25:00", "bc_when_bad"),
        ("2026-09-21 09:00", "bc_when_past"),  # this morning
        ("2020-01-01 09:00", "bc_when_past"),
        ("2031-01-01 09:00", "bc_when_far"),
    ):
        await bot.text(OWNER, typed)
        assert bot.last(OWNER).text == bot.t(key, zone="Europe/Paris"), typed
    await bot.tap(OWNER, f"bc:at:{broadcast_id}:{int(bot.clock.now) - 60}")  # an old button
    assert bot.last(OWNER).text == bot.t("bc_when_past", zone="Europe/Paris")
    await bot.tap(OWNER, f"bc:at:{broadcast_id}:{2**63 - 1}")  # a forged one: no overflow
    assert bot.last(OWNER).text == bot.t("bc_when_far", zone="Europe/Paris")
    draft = await bot.svc.store.broadcasts.get(broadcast_id)
    assert draft is not None and draft.state == "draft"
    await bot.text(OWNER, "2026-12-07 09:00")  # still asking: a good one is taken
    draft = await bot.svc.store.broadcasts.get(broadcast_id)
    assert draft is not None and draft.state == "scheduled"
    assert draft.send_at == int(datetime(2026, 12, 7, 9, 0, tzinfo=PARIS).timestamp())


async def test_missed_while_down_sends_within_12_hours_then_asks(bot: Harness) -> None:
    await make_lead(bot, 100, "en")
    first = await draft_to(bot)
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    second = await draft_to(bot, "Second news")
    await bot.tap(OWNER, button(bot, "Tomorrow 09:00"))
    tomorrow = int(datetime(2026, 9, 22, 9, 0, tzinfo=PARIS).timestamp())
    bot.clock.now = tomorrow + 11 * 3600  # back 11 hours late: it goes
    await run_due(bot.svc, bot.app.bot)
    await bot.svc.broadcaster.wait(second)
    assert [s.text for s in copies(bot, 100)] == ["Second news"]
    bot.clock.now = MONDAY_9 + 13 * 3600  # 13 hours late: the owners decide
    await run_due(bot.svc, bot.app.bot)
    await run_due(bot.svc, bot.app.bot)  # asked once
    asked = [s for s in bot.chat(OWNER) if s.text.startswith(f"⏸ Broadcast #{first}")]
    assert len(asked) == 1 and len(copies(bot, 100)) == 1
    await bot.text(OWNER, "/broadcast")  # the held one is listed with the same choice
    assert any(s.text.startswith(f"⏸ Broadcast #{first}") for s in bot.chat(OWNER)[-3:])
    await bot.tap(OWNER, button(bot, "✅ Send now"))
    await bot.svc.broadcaster.wait(first)
    assert [s.text for s in copies(bot, 100)] == ["Second news", "Open day on Saturday"]


async def test_a_segment_empty_when_due_is_reported_not_sent(bot: Harness) -> None:
    await make_lead(bot, 100, "fr")
    await make_lead(bot, 101, "en")
    broadcast_id = await draft_to(bot, seg="Language: French")
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    await bot.text(100, "/stop")  # the only French lead left
    bot.clock.now = MONDAY_9
    await run_due(bot.svc, bot.app.bot)
    assert bot.last(OWNER).text == bot.t(
        "bc_due_empty", id=str(broadcast_id), when="2026-09-28 09:00"
    )
    draft = await bot.svc.store.broadcasts.get(broadcast_id)
    assert draft is not None and draft.state == "cancelled"
    assert not copies(bot, 100) and not copies(bot, 101)


async def test_cancel_and_reschedule_from_the_list(bot: Harness) -> None:
    await make_lead(bot, 100, "en")
    dropped = await draft_to(bot, "Dropped")
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    moved = await draft_to(bot, "Moved")
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    await bot.text(OWNER, "/broadcast")
    await bot.tap(OWNER, f"bc:x:{dropped}")
    assert bot.last(OWNER).text == bot.t("bc_dropped", id=str(dropped))
    await bot.tap(OWNER, f"bc:r:{moved}")
    await bot.text(OWNER, "2026-09-30 18:30")
    assert bot.last(OWNER).text.startswith(f"🕘 Broadcast #{moved} goes on 2026-09-30 18:30")
    bot.clock.now = MONDAY_9 + 3600
    await run_due(bot.svc, bot.app.bot)
    assert not copies(bot, 100)  # one cancelled, the other moved to Wednesday
    bot.clock.now = int(datetime(2026, 9, 30, 18, 30, tzinfo=PARIS).timestamp())
    await run_due(bot.svc, bot.app.bot)
    await bot.svc.broadcaster.wait(moved)
    assert [s.text for s in copies(bot, 100)] == ["Moved"]


async def test_cancelling_a_scheduled_broadcast_while_it_sends(bot: Harness) -> None:
    for user in range(100, 160):
        await make_lead(bot, user, "en")
    bot.fake.latency = 0.05
    broadcast_id = await draft_to(bot)
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    bot.clock.now = MONDAY_9
    await run_due(bot.svc, bot.app.bot)
    await bot.tap(OWNER, f"bc:x:{broadcast_id}")  # today's cancel, from the progress message
    await bot.svc.broadcaster.wait(broadcast_id)
    got = sum(len(copies(bot, u)) for u in range(100, 160))
    assert got < 60
    assert bot.last(OWNER).text.startswith(f"🛑 Broadcast #{broadcast_id} cancelled: sent {got}")


async def test_two_owners_scheduling_the_same_draft(
    bot_with: Callable[..., Awaitable[Harness]],
) -> None:
    bot = await bot_with(owner_ids=[OWNER, OWNER + 1])
    await bot.text(OWNER + 1, "/help")
    await make_lead(bot, 100, "en")
    broadcast_id = await draft_to(bot)
    await bot.tap(OWNER, button(bot, "Monday 09:00"))
    await bot.tap(OWNER + 1, f"bc:r:{broadcast_id}")  # the other owner moves it: last one wins
    await bot.text(OWNER + 1, "2026-09-23 10:00")
    draft = await bot.svc.store.broadcasts.get(broadcast_id)
    assert draft is not None and draft.state == "scheduled"
    assert draft.send_at == int(datetime(2026, 9, 23, 10, 0, tzinfo=PARIS).timestamp())
    await bot.tap(OWNER, go_button(bot))  # the first owner's old "Send to 1": it goes now, once
    await bot.svc.broadcaster.wait(broadcast_id)
    bot.clock.now = MONDAY_9
    await run_due(bot.svc, bot.app.bot)
    assert len(copies(bot, 100)) == 1
