"""Store methods for KPIs: SQL over the event log, with its indexes, never leads in Python."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.periods import Period
from bot.store_base import StoreBase


@dataclass(frozen=True)
class Counts:
    """Raw counts for one period (DESIGN.md's KPI definitions); rates are derived in bot.kpis."""

    starts: int = 0
    new_leads: int = 0
    answered: int = 0  # new leads of the period who answered a qualifying question
    fit: int = 0  # ... of whom at least one answer was fit
    tips_sent: int = 0
    tip_clicks: int = 0
    plan_requests: int = 0
    contact_requests: int = 0
    ready_to_talk: int = 0
    won: int = 0
    unsubscribed: int = 0
    blocked: int = 0
    subscribed_at_start: int = 0
    downloads: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SourceCounts:
    """The by-source split: counts per first source."""

    source: str
    starts: int
    new_leads: int
    answered: int
    fit: int
    ready_to_talk: int
    won: int


_PEOPLE = "SELECT COUNT(DISTINCT person) FROM events WHERE kind = ? AND at >= ? AND at < ?"
# Of the period's new leads who answered a qualifying question (ever), how many answered fit.
_QUALIFIED = """
    SELECT COUNT(*), COALESCE(SUM(fit), 0) FROM (
        SELECT n.person, MAX(a.value = 'fit') AS fit
        FROM (SELECT DISTINCT person FROM events WHERE kind = 'lead' AND at >= ? AND at < ?) n
        JOIN events a ON a.person = n.person AND a.kind = 'answer'
        GROUP BY n.person)
"""
# Leads subscribed when the period starts: their last subscription event before it was an opt-in.
_SUBSCRIBED = """
    SELECT COUNT(*) FROM (
        SELECT (SELECT e2.kind FROM events e2 WHERE e2.person = e.person
                AND e2.kind IN ('lead', 'resubscribe', 'unsubscribe', 'blocked', 'erase')
                AND e2.at < ? ORDER BY e2.at DESC, e2.id DESC LIMIT 1) AS last
        FROM events e WHERE e.kind = 'lead' AND e.at < ?)
    WHERE last IN ('lead', 'resubscribe')
"""
_BY_SOURCE = """
    WITH src AS (SELECT person, COALESCE(source, '') AS source FROM events WHERE kind = 'start'),
    fresh AS (SELECT DISTINCT person FROM events WHERE kind = 'lead' AND at >= ? AND at < ?),
    answered AS (
        SELECT f.person, MAX(a.value = 'fit') AS fit FROM fresh f
        JOIN events a ON a.person = f.person AND a.kind = 'answer' GROUP BY f.person)
    SELECT src.source,
        SUM(EXISTS(SELECT 1 FROM events e WHERE e.person = src.person AND e.kind = 'start'
            AND e.at >= ? AND e.at < ?)) AS starts,
        SUM(src.person IN (SELECT person FROM fresh)) AS new_leads,
        SUM(src.person IN (SELECT person FROM answered)) AS answered,
        SUM(src.person IN (SELECT person FROM answered WHERE fit)) AS fit,
        SUM(EXISTS(SELECT 1 FROM events e WHERE e.person = src.person
            AND e.kind IN ('plan', 'contact') AND e.at >= ? AND e.at < ?)) AS ready,
        SUM(EXISTS(SELECT 1 FROM events e WHERE e.person = src.person AND e.kind = 'won'
            AND e.at >= ? AND e.at < ?)) AS won
    FROM src GROUP BY src.source ORDER BY starts DESC, src.source
"""


class KpiStore(StoreBase):
    """KPI queries; every figure is computed by SQL over the indexed event log."""

    async def _scalar(self, sql: str, params: tuple[object, ...]) -> int:
        row = await self._one(sql, params)
        return int(row[0] or 0) if row else 0

    async def kpi_counts(self, period: Period) -> Counts:
        """Every KPI count of DESIGN.md for one period."""
        s, e = period.start, period.end
        people = {
            kind: await self._scalar(_PEOPLE, (kind, s, e))
            for kind in ("start", "lead", "plan", "contact", "won", "unsubscribe", "blocked")
        }
        qualified = await self._one(_QUALIFIED, (s, e))
        downloads = await self._all(
            "SELECT magnet_id, COUNT(*) AS n FROM events WHERE kind = 'download'"
            " AND value = 'first' AND at >= ? AND at < ? GROUP BY magnet_id",
            (s, e),
        )
        messages = "SELECT COUNT(*) FROM events WHERE kind = ? AND at >= ? AND at < ?"
        return Counts(
            starts=people["start"],
            new_leads=people["lead"],
            answered=int(qualified[0]) if qualified else 0,
            fit=int(qualified[1]) if qualified else 0,
            tips_sent=await self._scalar(messages, ("tip_sent", s, e)),
            tip_clicks=await self._scalar(messages, ("tip_click", s, e)),
            plan_requests=people["plan"],
            contact_requests=people["contact"],
            ready_to_talk=await self._scalar(
                "SELECT COUNT(DISTINCT person) FROM events WHERE kind IN ('plan', 'contact')"
                " AND at >= ? AND at < ?",
                (s, e),
            ),
            won=people["won"],
            unsubscribed=people["unsubscribe"],
            blocked=people["blocked"],
            subscribed_at_start=await self._scalar(_SUBSCRIBED, (s, s)),
            downloads={r["magnet_id"]: int(r["n"]) for r in downloads},
        )

    async def kpi_by_source(self, period: Period) -> list[SourceCounts]:
        """Starts, new leads, qualified, ready to talk and won per first source."""
        s, e = period.start, period.end
        rows = await self._all(_BY_SOURCE, (s, e, s, e, s, e, s, e))
        return [
            SourceCounts(
                r["source"],
                r["starts"],
                r["new_leads"],
                r["answered"],
                r["fit"],
                r["ready"],
                r["won"],
            )
            for r in rows
            if r["starts"] or r["new_leads"] or r["ready"] or r["won"]
        ]

    async def new_leads_per_month(self, months: list[Period]) -> list[int]:
        """New leads in each of these months (for the chart)."""
        return [await self._scalar(_PEOPLE, ("lead", m.start, m.end)) for m in months]
