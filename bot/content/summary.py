"""A readable summary of the content: what an owner sees before going live."""

from __future__ import annotations

from bot.content.catalogue import Catalogue
from bot.content.texts import Texts, english_count


def describe_delay(seconds: int) -> str:
    """`90061` -> `1d 1h 1m 1s` (the biggest units only)."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


def content_summary(catalogue: Catalogue, texts: Texts) -> str:
    """Magnets, languages, questions and tips with their timing."""
    lines = [
        f"Catalogue {catalogue.path}: {english_count(len(catalogue.magnets), 'magnet')};"
        f" texts in {', '.join(texts.languages)} (default {texts.default})."
    ]
    for magnet in catalogue.magnets:
        title = magnet.title.get(texts.default) or next(iter(magnet.title.values()))
        langs = ", ".join(sorted(magnet.pdf))
        lines.append(f"- {magnet.id}: {title!r} (PDF in {langs})")
        if magnet.question:
            answers = ", ".join(
                f"{a.id}{'' if a.fit else ' (not fit)'}" for a in magnet.question.answers
            )
            lines.append(f"    question: {answers}")
        elapsed = 0
        for tip in magnet.tips:
            elapsed += tip.delay_seconds
            cta = " + button" if tip.cta else ""
            kept = ", also after ready to talk" if tip.after_hot else ""
            lines.append(f"    tip {tip.id}: {describe_delay(elapsed)} after capture{cta}{kept}")
    return "\n".join(lines)
