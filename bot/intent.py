"""Spotting a request for a personalised plan in a person's own words."""

from __future__ import annotations

import re
import unicodedata

# Documented in the README. Matched as whole words, ignoring case and accents.
PLAN_PHRASES: tuple[str, ...] = (
    # French
    "plan personnalise",
    "plan sur mesure",
    "rendez-vous",
    "rendez vous",
    "rdv",
    "devis",
    "prendre contact",
    "me rappeler",
    # English
    "personalised plan",
    "personalized plan",
    "custom plan",
    "appointment",
    "book a call",
    "call me",
    "a quote",
)


def _fold(text: str) -> str:
    """Lower case without accents, so `Plan Personnalisé` matches `plan personnalise`."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_PATTERN = re.compile(r"\b(" + "|".join(re.escape(p) for p in PLAN_PHRASES) + r")\b")


def plan_phrase(text: str) -> str | None:
    """The plan phrase found in `text`, if any."""
    match = _PATTERN.search(_fold(text[:2000]))
    return match.group(1) if match else None
