"""/stats: exactly DESIGN.md's KPI definitions, by period and source, with a chart."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from bot.owner.kpis import churn_rate, close_rate, lead_rate, qualified_share, tip_click_rate
from bot.owner.periods import ALL_TIME, month, parse_period
from tests.conftest import OWNER, Harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL

DAY = 86400


async def funnel(bot: Harness, user: int, source: str, answer: str = "family") -> None:
    await bot.text(user, f"/start {source}")
    await bot.tap(user, "mag:what-to-wear")
    await bot.text(user, f"u{user}@example.com")
    await bot.tap(user, f"ans:what-to-wear:{answer}")


async def test_kpis_follow_the_definitions(bot: Harness) -> None:
    zone = bot.svc.settings.zone
    september = month(2026, 9, zone)  # the test clock starts on 2026-09-21
    await funnel(bot, 1, "instagram")
    await funnel(bot, 2, "instagram", answer="curious")
    await funnel(bot, 3, "flyer")
    await bot.text(4, "/start flyer")  # a visitor who never gives an email
    await bot.tap(1, "mag:gardening-basics")  # a second magnet: one more download, same lead
    await bot.tap(1, "ans:gardening-basics:garden")
    await bot.tap(1, "mag:what-to-wear")  # the same magnet again: not counted again
    await bot.text(2, "/stop")
    await bot.text(3, "/plan")
    await bot.text(3, "/plan")  # twice: one person
    await bot.text(1, "/contact hello")
    await bot.tap(OWNER, "own:w:3")
    await bot.text(1, "/forget")
    await bot.tap(1, "fgt:yes")  # erased: anonymous events keep counting
    counts = await bot.svc.store.kpis.counts(september)
    assert (counts.starts, counts.new_leads) == (4, 3)
    assert lead_rate(counts) == 3 / 4
    assert counts.downloads == {"what-to-wear": 3, "gardening-basics": 1}
    assert (counts.answered, counts.fit) == (3, 2)
    assert qualified_share(counts) == 2 / 3
    assert (counts.plan_requests, counts.contact_requests, counts.ready_to_talk) == (1, 1, 2)
    assert counts.won == 1 and close_rate(counts) == 1 / 2
    assert (counts.unsubscribed, counts.blocked, counts.subscribed_at_start) == (1, 0, 0)
    assert churn_rate(counts) == 1 / 3
    assert tip_click_rate(counts) is None  # no tips sent yet
    october = await bot.svc.store.kpis.counts(month(2026, 10, zone))
    assert (october.starts, october.new_leads, october.subscribed_at_start) == (0, 0, 1)
    everything = await bot.svc.store.kpis.counts(ALL_TIME)
    assert everything.new_leads == 3
    sources = {s.source: s for s in await bot.svc.store.kpis.by_source(september)}
    assert (sources["instagram"].starts, sources["instagram"].new_leads) == (2, 2)
    assert (sources["instagram"].answered, sources["instagram"].fit) == (2, 1)
    assert (sources["flyer"].starts, sources["flyer"].new_leads, sources["flyer"].won) == (2, 1, 1)
    assert sources["flyer"].ready_to_talk == 1


async def test_stats_command_text_and_chart(bot: Harness) -> None:
    await funnel(bot, 1, "instagram")
    await bot.text(OWNER, "/stats")
    text, chart = bot.chat(OWNER)[-2:]
    assert "Stats" in text.text and "2026-09" in text.text and "2026-08" in text.text
    assert "New leads" in text.text and "By source" in text.text and "instagram" in text.text
    call = [c for c in bot.fake.calls if c.method == "sendPhoto"][-1]
    photo = next(iter(call.files.values())) if call.files else None
    assert photo is not None
    assert chart.method == "sendPhoto"
    await bot.text(OWNER, "/stats 2026-08")
    assert "2026-08" in bot.chat(OWNER)[-2].text and "2026-07" in bot.chat(OWNER)[-2].text
    await bot.text(OWNER, "/stats all")
    assert "all time" in bot.chat(OWNER)[-2].text


async def test_stats_with_a_malformed_period(bot: Harness) -> None:
    for bad in ("/stats 2026-13", "/stats yesterday", "/stats 2026/10", "/stats 99999-01"):
        await bot.text(OWNER, bad)
        assert bot.last(OWNER).text == bot.t("stats_usage")


async def test_stats_is_an_unknown_command_to_prospects(bot: Harness) -> None:
    await bot.text(1, "/stats")
    assert bot.last(1).text == bot.t("unknown_command")


def test_parse_period() -> None:
    paris = ZoneInfo("Europe/Paris")
    assert parse_period(None, 1_790_000_000, paris).label == "2026-09"
    assert parse_period("2026-12", 0, paris) == month(2026, 12, paris)
    assert month(2026, 12, paris).end == month(2027, 1, paris).start
    assert parse_period("all", 0, paris) is ALL_TIME
