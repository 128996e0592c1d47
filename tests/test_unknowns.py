"""Owners see what happened: unknown tips in /stats and the export, unknown broadcast recipients
in the final report, with a deliberate resend to them."""

from __future__ import annotations

import re

import pytest

from bot.owner.periods import month
from bot.telegram.html import plain_text
from tests.conftest import OWNER, Harness
from tests.test_broadcast import compose_to_all, make_leads, received
from tests.test_console import export_rows
from tests.test_nurture import lead_with_pdf

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL

DAY = 86400


async def crash_with_a_tip_in_flight(bot: Harness, user: int) -> None:
    """A tip claimed by a process that then died: unknown at the next start."""
    await lead_with_pdf(bot, user)
    bot.clock.now += DAY
    due = [t for t in await bot.svc.store.tips.due(int(bot.clock.now), 10) if t.user_id == user]
    assert await bot.svc.store.tips.claim(due[0])
    bot.clock.now -= DAY


async def test_unknown_tips_in_stats_and_export(bot: Harness) -> None:
    await crash_with_a_tip_in_flight(bot, 1001)
    await crash_with_a_tip_in_flight(bot, 1002)
    await lead_with_pdf(bot, 1003)
    bot.clock.now += DAY
    assert await bot.svc.nurture.recover() == 2  # what the next start does
    assert await bot.svc.nurture.tick() == 1  # 1003's tip goes; the unknown ones are not resent
    counts = await bot.svc.store.kpis.counts(month(2026, 9, bot.svc.settings.zone))
    assert (counts.tips_sent, counts.tips_unknown) == (1, 2)
    await bot.text(OWNER, "/stats")
    text = next(s.text for s in bot.chat(OWNER) if "Tips unknown" in s.text)
    line = next(row for row in text.split("\n") if row.startswith("Tips unknown"))
    figures = re.findall(r"\d+", line.removeprefix("Tips unknown"))
    assert figures == ["2", "0", "2"]  # this month, the month before, all time
    await bot.text(OWNER, "/export")
    rows = {r["person"]: r for r in export_rows(bot)}
    assert [rows[str(u)]["tips_unknown"] for u in (1001, 1002, 1003)] == ["1", "1", "0"]
    assert sum(int(r["tips_unknown"]) for r in rows.values()) == counts.tips_unknown
    assert sum(int(r["tips_sent"]) for r in rows.values()) == counts.tips_sent


async def broadcast_with_unknowns(bot: Harness, users: range, lost: int) -> int:
    """A broadcast whose process died with `lost` recipients in flight, resumed and finished."""
    await make_leads(bot, users)
    broadcast_id = await compose_to_all(bot)
    store = bot.svc.store
    assert await store.broadcasts.start(broadcast_id, paid=False) == len(users)
    for user in users[:lost]:
        assert await store.broadcasts.claim_recipient(broadcast_id, user)  # then the process died
    assert await bot.svc.broadcaster.resume() == 1  # what the next start does
    await bot.svc.broadcaster.wait(broadcast_id)
    return broadcast_id


async def test_final_report_offers_to_send_to_the_unknown_ones(bot: Harness) -> None:
    users = range(500, 510)
    broadcast_id = await broadcast_with_unknowns(bot, users, lost=3)
    report = bot.last(OWNER)
    assert "unknown 3" in report.text
    assert report.buttons == [[(bot.t("btn_bc_unknown", count="3"), f"bc:u:{broadcast_id}")]]
    assert all(received(bot, u) == [] for u in users[:3])
    await bot.text(502, "/stop")  # one of them left since: not sent to
    await bot.tap(OWNER, f"bc:u:{broadcast_id}", message_id=report.message_id)
    confirm = bot.last(OWNER)
    assert confirm.text == plain_text(bot.t("bc_unknown_confirm", id=str(broadcast_id), count="2"))
    go = next(data for row in confirm.buttons for _, data in row if data.startswith("bc:go:"))
    again = int(go.split(":")[2])
    assert again != broadcast_id
    await bot.tap(OWNER, go, message_id=confirm.message_id)
    await bot.tap(OWNER, go, message_id=confirm.message_id)  # a double tap sends once
    assert bot.fake.answered_callbacks[-1].text == bot.t("bc_not_draft")
    await bot.svc.broadcaster.wait(again)
    assert [len(received(bot, u)) for u in users] == [1, 1, 0] + [1] * 7
    # The button again (a stale tap, another owner): already sent, nothing more leaves.
    await bot.tap(OWNER, f"bc:u:{broadcast_id}", message_id=report.message_id)
    assert bot.fake.answered_callbacks[-1].text == bot.t("bc_unknown_done", id=str(again))
    assert [len(received(bot, u)) for u in users] == [1, 1, 0] + [1] * 7
    progress = await bot.svc.store.broadcasts.progress(again)
    assert progress["sent"] == 2


async def test_resend_button_is_owner_only_and_cancellable(bot: Harness) -> None:
    users = range(600, 604)
    broadcast_id = await broadcast_with_unknowns(bot, users, lost=1)
    await bot.tap(601, f"bc:u:{broadcast_id}")  # a prospect forging the owner's button
    assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    await bot.tap(OWNER, f"bc:u:{broadcast_id}")
    confirm = bot.last(OWNER)
    cancel = next(data for row in confirm.buttons for _, data in row if data.startswith("bc:x:"))
    await bot.tap(OWNER, cancel, message_id=confirm.message_id)
    assert received(bot, 600) == []
    await bot.tap(OWNER, f"bc:u:{broadcast_id}")  # asked again after a cancel: offered again
    assert bot.last(OWNER).text == plain_text(
        bot.t("bc_unknown_confirm", id=str(broadcast_id), count="1")
    )


async def test_no_button_without_unknowns(bot: Harness) -> None:
    await make_leads(bot, range(700, 703))
    broadcast_id = await compose_to_all(bot)
    await bot.tap(OWNER, f"bc:go:{broadcast_id}:0")
    await bot.svc.broadcaster.wait(broadcast_id)
    report = bot.last(OWNER)
    assert "unknown 0" in report.text and report.buttons == []
