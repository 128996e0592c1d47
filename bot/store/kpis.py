"""Store methods for KPIs: SQL over the event log, with its indexes, never leads in Python."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.owner.periods import Period
from bot.store.repository import Repository


@dataclass(frozen=True)
class Counts:
    """Raw counts for one period (DESIGN.md's KPI definitions); rates: bot.owner.kpis."""

    starts: int = 0
    new_leads: int = 0
    answered: int = 0  # new leads of the period who answered a qualifying question
    fit: int = 0  # ... of whom at least one answer was fit
    tips_sent: int = 0
    tips_unknown: int = 0  # tips in flight at a crash or a timeout: maybe delivered, not resent
    tip_clicks: int = 0
    plan_requests: int = 0
    contact_requests: int = 0
    ready_to_talk: int = 0
    won: int = 0
    unsubscribed: int = 0
    blocked: int = 0
    subscribed_at_start: int = 0
    verified: int = 0  # people whose email was first verified by code in the period
    downloads: dict[str, int] = field(default_factory=dict)


@dataclass
class SourceCounts:
    """The by-source split: counts per first source."""

    source: str
    starts: int = 0
    new_leads: int = 0
    answered: int = 0
    fit: int = 0
    ready_to_talk: int = 0
    won: int = 0


# Kinds the store logs at most once per person (start, lead, plan, won): COUNT(*) is the number
# of people, straight from the covering index. Others may repeat: count distinct people.
# Every query reads `prospect_events`: the event log without the owners (StoreBase.set_owners),
# whose own tries of the funnel are not prospects; the export reads it too, so both agree.
# Plain counts, the biggest (every tip sent), count the whole log from its covering index and
# take away the owners' own (a few rows by events_person): the same figure as counting
# `prospect_events`, without checking each row's person (a third less time over all time).
_OWNERS_OUT = (
    "SELECT (SELECT COUNT(*) FROM main.events WHERE {where})"
    " - (SELECT COUNT(*) FROM main.events"
    " WHERE person IN (SELECT user_id FROM temp.owners) AND {where})"
)
_ONCE = _OWNERS_OUT.format(where="kind = ?1 AND at >= ?2 AND at < ?3")
_PEOPLE = "SELECT COUNT(DISTINCT person) FROM prospect_events WHERE kind = ? AND at >= ? AND at < ?"
# Of the period's new leads who answered a qualifying question, how many answered fit (any).
_QUALIFIED = """
    SELECT COUNT(DISTINCT a.person), COUNT(DISTINCT CASE WHEN a.value = 'fit' THEN a.person END)
    FROM prospect_events a WHERE a.kind = 'answer' AND a.person IN (
        SELECT person FROM prospect_events WHERE kind = 'lead' AND at >= ? AND at < ?)
"""
# All time: everyone who answered is a lead (the question comes after the email), so no join.
_QUALIFIED_EVER = """
    SELECT COUNT(DISTINCT person), COUNT(DISTINCT CASE WHEN value = 'fit' THEN person END)
    FROM prospect_events WHERE kind = 'answer'
"""
# Leads subscribed when the period starts: everyone who became a lead before it (once per
# person), minus those whose latest leaving (unsubscribe, block, erasure) before it came after
# their latest opt-in. Only people who ever left are grouped: a small set.
_LEADS_BEFORE = _OWNERS_OUT.format(where="kind = 'lead' AND at < ?1")
_GONE_BEFORE = """
    SELECT COUNT(*) FROM (
        SELECT MAX(CASE WHEN kind IN ('lead', 'resubscribe', 'unblocked') THEN at END) AS joined,
               MAX(CASE WHEN kind IN ('unsubscribe', 'blocked', 'erase') THEN at END) AS gone
        FROM prospect_events
        WHERE person IN (SELECT person FROM prospect_events
                         WHERE kind IN ('unsubscribe', 'blocked', 'erase') AND at < ?)
          AND kind IN ('lead', 'resubscribe', 'unblocked', 'unsubscribe', 'blocked', 'erase')
          AND at < ?
        GROUP BY person) AS people
    WHERE joined IS NOT NULL AND gone >= joined
"""
# By source: start and lead events carry the person's first source; others join the start.
# CROSS JOIN keeps the period's few rows outside (SQLite never reorders it): each person's start
# is then one search, never a scan of every start.
_SOURCE_STARTS = """
    SELECT COALESCE(source, '') AS source, COUNT(*) AS n FROM prospect_events
    WHERE kind = 'start' AND at >= ? AND at < ? GROUP BY 1
"""
_SOURCE_LEADS = """
    SELECT COALESCE(source, '') AS source, COUNT(*) AS n FROM prospect_events
    WHERE kind = 'lead' AND at >= ? AND at < ? GROUP BY 1
"""
_SOURCE_QUALIFIED = """
    SELECT COALESCE(l.source, '') AS source, COUNT(DISTINCT a.person) AS answered,
        COUNT(DISTINCT CASE WHEN a.value = 'fit' THEN a.person END) AS fit
    FROM prospect_events l CROSS JOIN events a ON a.person = l.person AND a.kind = 'answer'
    WHERE l.kind = 'lead' AND l.at >= ? AND l.at < ? GROUP BY 1
"""
# All time: answer events carry the first source and every answerer is a lead.
_SOURCE_QUALIFIED_EVER = """
    SELECT COALESCE(source, '') AS source, COUNT(DISTINCT person) AS answered,
        COUNT(DISTINCT CASE WHEN value = 'fit' THEN person END) AS fit
    FROM prospect_events WHERE kind = 'answer' GROUP BY 1
"""
_SOURCE_PEOPLE = """
    SELECT COALESCE(s.source, '') AS source, COUNT(DISTINCT e.person) AS n
    FROM prospect_events e CROSS JOIN events s ON s.person = e.person AND s.kind = 'start'
    WHERE e.kind IN ({kinds}) AND e.at >= ? AND e.at < ? GROUP BY 1
"""


class Kpis(Repository):
    """KPIs: SQL over the event log, with its indexes, never leads in Python."""

    async def _scalar(self, sql: str, params: tuple[object, ...]) -> int:
        row = await self._one(sql, params)
        return int(row[0] or 0) if row else 0

    async def counts(self, period: Period) -> Counts:
        """Every KPI count of DESIGN.md for one period."""
        s, e = period.start, period.end
        once = {
            k: await self._scalar(_ONCE, (k, s, e))
            for k in ("start", "lead", "plan", "won", "verified")
        }
        people = {
            k: await self._scalar(_PEOPLE, (k, s, e)) for k in ("contact", "unsubscribe", "blocked")
        }
        qualified = await (
            self._one(_QUALIFIED_EVER) if period.is_all else self._one(_QUALIFIED, (s, e))
        )
        downloads = await self._all(
            "SELECT magnet_id, COUNT(*) AS n FROM prospect_events WHERE kind = 'download'"
            " AND value = 'first' AND at >= ? AND at < ? GROUP BY magnet_id",
            (s, e),
        )
        return Counts(
            starts=once["start"],
            new_leads=once["lead"],
            answered=int(qualified[0]) if qualified else 0,
            fit=int(qualified[1]) if qualified else 0,
            tips_sent=await self._scalar(_ONCE, ("tip_sent", s, e)),  # messages, not people
            tips_unknown=await self._scalar(_ONCE, ("tip_unknown", s, e)),  # messages too
            tip_clicks=await self._scalar(_ONCE, ("tip_click", s, e)),  # once per (lead, tip)
            plan_requests=once["plan"],
            contact_requests=people["contact"],
            ready_to_talk=await self._scalar(
                "SELECT COUNT(DISTINCT person) FROM prospect_events"
                " WHERE kind IN ('plan', 'contact') AND at >= ? AND at < ?",
                (s, e),
            ),
            won=once["won"],
            unsubscribed=people["unsubscribe"],
            blocked=people["blocked"],
            subscribed_at_start=(
                await self._scalar(_LEADS_BEFORE, (s,)) - await self._scalar(_GONE_BEFORE, (s, s))
            ),
            downloads={r["magnet_id"]: int(r["n"]) for r in downloads},
            verified=once["verified"],
        )

    async def by_source(self, period: Period) -> list[SourceCounts]:
        """Starts, new leads, qualified, ready to talk and won per first source."""
        s, e = period.start, period.end
        table: dict[str, SourceCounts] = {}

        def row(source: str) -> SourceCounts:
            return table.setdefault(source, SourceCounts(source))

        for r in await self._all(_SOURCE_STARTS, (s, e)):
            row(r["source"]).starts = int(r["n"])
        for r in await self._all(_SOURCE_LEADS, (s, e)):
            row(r["source"]).new_leads = int(r["n"])
        qualified = (
            await self._all(_SOURCE_QUALIFIED_EVER)
            if period.is_all
            else await self._all(_SOURCE_QUALIFIED, (s, e))
        )
        for r in qualified:
            row(r["source"]).answered, row(r["source"]).fit = int(r["answered"]), int(r["fit"])
        ready = _SOURCE_PEOPLE.format(kinds="'plan', 'contact'")
        for r in await self._all(ready, (s, e)):
            row(r["source"]).ready_to_talk = int(r["n"])
        for r in await self._all(_SOURCE_PEOPLE.format(kinds="'won'"), (s, e)):
            row(r["source"]).won = int(r["n"])
        return sorted(table.values(), key=lambda c: (-c.starts, c.source))

    async def new_leads_per_month(self, months: list[Period]) -> list[int]:
        """New leads in each of these months (for the chart)."""
        return [await self._scalar(_ONCE, ("lead", m.start, m.end)) for m in months]
