"""KPIs as DESIGN.md defines them: rates from counts, and the /stats text."""

from __future__ import annotations

from collections.abc import Callable
from html import escape as _escape

from bot.store.kpis import Counts, SourceCounts


def escape(text: str) -> str:
    """Text made safe inside Telegram HTML (apostrophes and quotes stay readable)."""
    return _escape(text, quote=False)


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


def figures(values: list[str]) -> str:
    """The period's value in bold, then the others: `<b>4</b> · 1 · 5`."""
    first, *others = values
    return " · ".join([f"<b>{escape(first)}</b>", *(escape(v) for v in others)])


def stats_text(
    label: Callable[[str], str],
    line: Callable[[str, str], str],
    titles: dict[str, str],
    columns: list[tuple[str, Counts]],
    sources: list[SourceCounts],
    optin: bool = False,
) -> list[str]:
    """The /stats lines (the handler joins them into messages of Telegram's size)."""
    # Made for a phone: no table to scroll sideways, no title cut. One figure per line with its
    # label in full (`line`: "label: figures" in the owners' language), the period's value
    # first and in bold, the columns named once by the first line; each guide under its whole
    # title; one block per first source (at most 40 guides, 25 sources). Verified leads and
    # their rate only with double opt-in (`optin`).
    shown = [(k, f) for k, f in ROWS if optin or k not in ("kpi_verified", "kpi_verification_rate")]
    rows = [line(label(key), figures([fmt(c) for _, c in columns])) for key, fmt in shown]
    cut = 5 if optin else 3  # downloads go after starts, new leads, lead rate (and verified)
    magnets = sorted({m for _, c in columns for m in c.downloads} | set(titles))[:40]
    downloads = [
        "• "
        + line(escape(titles.get(m, m)), figures([str(c.downloads.get(m, 0)) for _, c in columns]))
        for m in magnets
    ]
    legend = f"<i>{escape(' · '.join(name for name, _ in columns))}</i>"
    lines = [legend, *rows[:cut], label("kpi_downloads"), *downloads, *rows[cut:]]
    if sources:
        lines.append(f"{label('kpi_by_source')} ({escape(columns[0][0])})")
    for s in sources[:25]:
        split = (
            ("kpi_starts", str(s.starts)),
            ("kpi_new_leads", str(s.new_leads)),
            ("kpi_lead_rate", pct(rate(s.new_leads, s.starts))),
            ("kpi_qualified", pct(rate(s.fit, s.answered))),
            ("kpi_ready", str(s.ready_to_talk)),
            ("kpi_won", str(s.won)),
        )
        lines.append(f"<b>{escape(s.source) if s.source else label('kpi_no_source')}</b>")
        lines.append(" · ".join(f"{label(key)} {escape(value)}" for key, value in split))
    return lines
