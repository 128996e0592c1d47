"""The final broadcast report's details: per language, and what bots cannot see (link clicks)."""

from __future__ import annotations

import html

from bot.services import Services
from bot.store.broadcasts import Broadcast


def _name(svc: Services, lang: str) -> str:
    """A language as owners read it (`bc_lang_<code>`), else its own name for itself."""
    try:
        return svc.texts.get(svc.owner_lang, f"bc_lang_{lang}")
    except KeyError:
        return svc.texts.get(lang, "language_name")


async def report_details(svc: Services, broadcast: Broadcast) -> str:
    """Lines added under the report: each language's sent / total and stop clicks (the
    unsubscribes), then a word on link buttons, whose clicks Telegram never tells bots about."""
    owner = svc.owner_lang
    figures: dict[str, dict[str, int]] = {}
    for raw, state, count in await svc.store.broadcasts.progress_by_language(broadcast.id):
        lang = svc.texts.lang_for(raw)  # the version this recipient got
        row = figures.setdefault(lang, {"sent": 0, "total": 0, "stop_clicks": 0})
        row["stop_clicks" if state == "stop_clicks" else "total"] += count
        row["sent"] += count if state == "sent" else 0
    lines = [
        svc.texts.get(
            owner,
            "bc_report_lang",
            language=_name(svc, lang),
            sent=str(figures[lang]["sent"]),
            total=str(figures[lang]["total"]),
            clicks=str(figures[lang]["stop_clicks"]),
        )
        for lang in svc.texts.languages
        if lang in figures
    ]
    if broadcast.links:
        labels = ", ".join(html.escape(label) for label, _ in broadcast.links)
        lines.append(svc.texts.get(owner, "bc_report_links", labels=labels))
    return "".join(f"\n{line}" for line in lines)
