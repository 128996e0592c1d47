"""KPIs as DESIGN.md defines them: rates from counts, and the /stats text."""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from bot.store_kpis import Counts, SourceCounts


def rate(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


def lead_rate(c: Counts) -> float | None:
    """New leads / starts, same period."""
    return rate(c.new_leads, c.starts)


def verification_rate(c: Counts) -> float | None:
    """Verified leads / new leads, same period (double opt-in)."""
    return rate(c.verified, c.new_leads)


def qualified_share(c: Counts) -> float | None:
    """Of new leads who answered the qualifying question, the share whose answer is fit."""
    return rate(c.fit, c.answered)


def tip_click_rate(c: Counts) -> float | None:
    """Distinct (lead, tip) button clicks / tips sent."""
    return rate(c.tip_clicks, c.tips_sent)


def close_rate(c: Counts) -> float | None:
    """Won / ready to talk."""
    return rate(c.won, c.ready_to_talk)


def churn_rate(c: Counts) -> float | None:
    """(Unsubscribed + blocked) / (subscribed leads at the start of the period + new leads)."""
    return rate(c.unsubscribed + c.blocked, c.subscribed_at_start + c.new_leads)


def pct(value: float | None) -> str:
    """`38%`, or `-` when undefined."""
    return "-" if value is None else f"{value:.0%}"


Row = tuple[str, Callable[[Counts], str]]

ROWS: tuple[Row, ...] = (
    ("kpi_starts", lambda c: str(c.starts)),
    ("kpi_new_leads", lambda c: str(c.new_leads)),
    ("kpi_lead_rate", lambda c: pct(lead_rate(c))),
    ("kpi_verified", lambda c: str(c.verified)),
    ("kpi_verification_rate", lambda c: pct(verification_rate(c))),
    ("kpi_qualified", lambda c: pct(qualified_share(c))),
    ("kpi_tips_sent", lambda c: str(c.tips_sent)),
    ("kpi_tips_unknown", lambda c: str(c.tips_unknown)),
    ("kpi_tip_clicks", lambda c: pct(tip_click_rate(c))),
    ("kpi_plan", lambda c: str(c.plan_requests)),
    ("kpi_contact", lambda c: str(c.contact_requests)),
    ("kpi_ready", lambda c: str(c.ready_to_talk)),
    ("kpi_won", lambda c: str(c.won)),
    ("kpi_close_rate", lambda c: pct(close_rate(c))),
    ("kpi_unsubscribed", lambda c: str(c.unsubscribed)),
    ("kpi_blocked", lambda c: str(c.blocked)),
    ("kpi_churn", lambda c: pct(churn_rate(c))),
)


def table(header: list[str], rows: list[list[str]]) -> str:
    """A monospace table for a <pre> block (values escaped)."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in [header, *rows]
    ]
    return "<pre>" + escape("\n".join(lines), quote=False) + "</pre>"


def stats_text(
    label: Callable[[str], str],
    titles: dict[str, str],
    columns: list[tuple[str, Counts]],
    sources: list[SourceCounts],
    optin: bool = False,
) -> list[str]:
    """The /stats messages: every KPI for each column with downloads per magnet, then the split
    by source; each part fits one Telegram message (at most 40 magnets and 25 sources shown).
    Verified leads and their rate are shown when double opt-in is on (`optin`)."""
    header = ["", *(name for name, _ in columns)]
    shown = [(k, f) for k, f in ROWS if optin or k not in ("kpi_verified", "kpi_verification_rate")]
    rows = [[label(key), *(fmt(c) for _, c in columns)] for key, fmt in shown]
    cut = 5 if optin else 3  # downloads go after starts, new leads, lead rate (and verified)
    magnets = sorted({m for _, c in columns for m in c.downloads} | set(titles))[:40]
    downloads = [
        [f"  {titles.get(m, m)[:22]}", *(str(c.downloads.get(m, 0)) for _, c in columns)]
        for m in magnets
    ]
    parts = [
        table(
            header,
            [
                *rows[:cut],
                [label("kpi_downloads"), *([""] * len(columns))],
                *downloads,
                *rows[cut:],
            ],
        )
    ]
    if sources:
        source_rows = [
            [
                (s.source or label("kpi_no_source"))[:18],
                str(s.starts),
                str(s.new_leads),
                pct(rate(s.new_leads, s.starts)),
                pct(rate(s.fit, s.answered)),
                str(s.ready_to_talk),
                str(s.won),
            ]
            for s in sources[:25]
        ]
        source_header = [
            label("kpi_source"),
            *(
                label(k)
                for k in (
                    "kpi_s_starts",
                    "kpi_s_leads",
                    "kpi_s_rate",
                    "kpi_s_fit",
                    "kpi_s_ready",
                    "kpi_s_won",
                )
            ),
        ]
        parts.append(
            f"{label('kpi_by_source')} ({columns[0][0]})\n{table(source_header, source_rows)}"
        )
    return parts
