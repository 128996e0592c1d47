"""People's names as owners see them: isolated, so a name cannot reorder the card around it."""

from __future__ import annotations

import re
from html import escape

# The bidirectional controls (marks, embeddings, overrides, isolates) are invisible: a name
# holding U+202E would show the rest of the owner's line reversed. They are dropped.
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# C0 and C1 controls (line breaks, tabs, escapes) become spaces: a name is one line.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
FSI, PDI = "\u2068", "\u2069"  # FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE


def clean(text: str) -> str:
    """Bidirectional controls dropped, other controls made spaces, runs of spaces collapsed."""
    return " ".join(_CONTROLS.sub(" ", _BIDI.sub("", text)).split())


def isolate(text: str, limit: int = 64, *, html: bool = True) -> str:
    """User-provided text for an owner's message: cleaned, shortened, isolated (and escaped)."""
    text = clean(text)
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return FSI + (escape(text, quote=False) if html else text) + PDI


def full_name(first: str | None, last: str | None) -> str:
    """First and last name as Telegram gives them (raw: isolate before showing)."""
    return " ".join(p for p in (first, last) if p)


def person(
    first: str | None, last: str | None, fallback: int, limit: int = 64, *, html: bool = True
) -> str:
    """A person's name for owners (their id when they have none), isolated."""
    return isolate(clean(full_name(first, last)) or str(fallback), limit, html=html)


def handle(username: str | None, *, html: bool = True) -> str:
    """` @username`, isolated, or nothing."""
    return f" {isolate('@' + username, 41, html=html)}" if username else ""
