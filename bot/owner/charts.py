"""The /stats chart (matplotlib, no display): the period's funnel and new leads per month."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no screen on a server
import matplotlib.pyplot as plt  # after use(): the backend must be chosen first

COLOUR = "#2f6f9f"


def stats_chart(
    title: str,
    funnel: list[tuple[str, int]],
    monthly_title: str,
    months: list[tuple[str, int]],
) -> bytes:
    """A PNG with the funnel (horizontal bars) above new leads per month (columns)."""
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 8), dpi=100)
    try:
        names = [name for name, _ in funnel][::-1]
        values = [value for _, value in funnel][::-1]
        bars = top.barh(names, values, color=COLOUR)
        top.bar_label(bars, padding=3)
        top.set_title(title)
        top.set_xlim(0, max([*values, 1]) * 1.15)
        top.spines[["top", "right"]].set_visible(False)
        labels = [name for name, _ in months]
        counts = [value for _, value in months]
        columns = bottom.bar(labels, counts, color=COLOUR)
        bottom.bar_label(columns, padding=2)
        bottom.set_title(monthly_title)
        bottom.set_ylim(0, max([*counts, 1]) * 1.2)
        bottom.tick_params(axis="x", labelrotation=45)
        bottom.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        return buffer.getvalue()
    finally:
        plt.close(figure)
