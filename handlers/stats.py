"""Owner console: /stats with a chart."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from telegram import Update
from telegram.constants import MessageLimit

from bot.content.catalogue import localized
from bot.inbox.relay import team_kpi_lines
from bot.outbox.crm import url_lines
from bot.owner.charts import stats_chart
from bot.owner.kpis import stats_text
from bot.owner.periods import ALL_TIME, Period, last_months, parse_period, previous
from bot.services import Ctx, Services
from bot.store import Store
from bot.store.kpis import Counts, SourceCounts
from bot.store.team import TeamCounts
from handlers.common import chat_id, chunks, say


async def outboxes_health(svc: Services) -> str:
    """One line per optional outbox in use: mails and webhooks sent, waiting, failed."""
    lines = []
    mails, hooks = await svc.store.optin.mail_counts(), await svc.store.hooks.counts()
    for key, on, counts in (
        ("stats_mails", svc.settings.double_optin, mails),
        ("stats_hooks", bool(svc.settings.crm_webhook_urls), hooks),
    ):
        if on or counts:
            failed = counts.get("failed", 0) + counts.get("refused", 0)
            sent, pending = counts.get("sent", 0), counts.get("pending", 0)
            line = svc.texts.get(
                svc.owner_lang, key, sent=str(sent), pending=str(pending), failed=str(failed)
            )
            lines.append(line)
    lines += await url_lines(svc)  # which URL fails, if one does
    return "\n".join(lines)


@dataclass(frozen=True)
class Figures:
    """Every store figure of /stats: per period (the KPIs, the inbox's), then per source."""

    counts: list[Counts]
    team: list[TeamCounts]
    sources: list[SourceCounts]
    team_sources: list[tuple[str | None, int, int]]


async def stats_figures(store: Store, periods: list[Period]) -> Figures:
    """The figures of /stats, all time on the store's reader meanwhile (its own connection
    and thread: the two halves take both cores)."""
    reader = await store.reader()

    async def column(p: Period) -> tuple[Counts, TeamCounts]:
        on = reader if p.is_all else store
        return await on.kpis.counts(p), await on.team.counts(p)

    async def by_source() -> tuple[list[SourceCounts], list[tuple[str | None, int, int]]]:
        return await store.kpis.by_source(periods[0]), await store.team.by_source(periods[0])

    pairs, (sources, team_sources) = await asyncio.gather(
        asyncio.gather(*map(column, periods)), by_source()
    )
    return Figures([c for c, _ in pairs], [t for _, t in pairs], sources, team_sources)


async def stats_lines(svc: Services, period: Period) -> tuple[list[str], str, Counts]:
    """The text of /stats for a period (every query it makes): its lines, then the first
    column's label and counts (for the chart)."""
    lang = svc.owner_lang

    def label(key: str) -> str:
        return svc.texts.get(lang, key)

    def line(name: str, values: str) -> str:
        return svc.texts.get(lang, "kpi_line", label=name, values=values)

    periods = [period] if period.is_all else [period, previous(period, svc.settings.zone), ALL_TIME]
    figures = await stats_figures(svc.store, periods)
    columns = [
        (p.label if p is not ALL_TIME else label("stats_all"), counts)
        for p, counts in zip(periods, figures.counts, strict=True)
    ]
    titles = {m.id: localized(m.title, lang, lang) for m in svc.catalogue.magnets}
    title = svc.texts.get(lang, "stats_title", zone=svc.settings.timezone)
    optin = svc.settings.double_optin or any(c.verified for _, c in columns)
    health = await outboxes_health(svc)
    if health:
        title += "\n" + health
    lines = [title, *stats_text(label, line, titles, columns, figures.sources, optin)]
    lines += team_kpi_lines(label, line, figures.team, svc.texts, lang, figures.team_sources)
    return lines, columns[0][0], columns[0][1]


async def stats(update: Update, context: Ctx) -> None:
    """/stats [YYYY-MM|all]: the period against the month before and all time, then a chart."""
    svc = context.svc
    lang, zone, now = svc.owner_lang, svc.settings.zone, svc.clock()

    def label(key: str) -> str:
        return svc.texts.get(lang, key)

    try:
        period = parse_period(" ".join(context.args or []) or None, now, zone)
    except ValueError:
        await say(update, label("stats_usage"))
        return
    lines, shown, counts = await stats_lines(svc, period)
    for chunk in chunks(
        lines, MessageLimit.MAX_TEXT_LENGTH - 96
    ):  # one message when it fits, else as many as it takes
        await say(update, chunk)
    funnel = [
        (label("kpi_starts"), counts.starts),
        (label("kpi_new_leads"), counts.new_leads),
        (label("kpi_ready"), counts.ready_to_talk),
        (label("kpi_won"), counts.won),
    ]
    months = last_months(now, 12, zone)
    monthly = await svc.store.kpis.new_leads_per_month(months)
    png = await asyncio.to_thread(  # matplotlib is slow and blocking: keep replies flowing
        stats_chart,
        svc.texts.get(lang, "chart_funnel", period=shown),
        funnel,
        label("chart_months"),
        [(m.label, n) for m, n in zip(months, monthly, strict=True)],
    )
    await context.bot.send_photo(chat_id(update), png)
