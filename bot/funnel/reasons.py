"""Why a person is ready to talk: stored as a short code, shown in the reader's language."""

from __future__ import annotations

import re

from bot.content.catalogue import Catalogue, localized
from bot.content.texts import Texts
from bot.telegram.html import plain_text

PLAN_COMMAND = "plan"  # /plan
CONTACT_COMMAND = "contact"  # /contact

# Reasons stored before they were codes (English prose), read the same way.
_LEGACY = {"/plan": PLAN_COMMAND, "/contact": CONTACT_COMMAND}
_LEGACY_TIP = re.compile(r"^tip button \(([^/()]+)/([^/()]+)\)$")
_LEGACY_WROTE = re.compile(r"^wrote “(.+)”$")


def tip_button(magnet_id: str, tip_id: str) -> str:
    """The call-to-action button under a tip."""
    return f"tip:{magnet_id}:{tip_id}"


def wrote(phrase: str) -> str:
    """A request in the person's own words, e.g. `rendez-vous`."""
    return f"wrote:{phrase}"


def _code(reason: str) -> str:
    """The code of a stored reason, old English wording included."""
    if reason in _LEGACY:
        return _LEGACY[reason]
    if match := _LEGACY_TIP.match(reason):
        return tip_button(match.group(1), match.group(2))
    if match := _LEGACY_WROTE.match(reason):
        return wrote(match.group(1))
    return reason


def describe(reason: str, texts: Texts, lang: str, catalogue: Catalogue) -> str:
    """The reason in `lang`, plain text (escape it for HTML), e.g. `wrote “rendez-vous”`."""
    kind, _, rest = _code(reason).partition(":")
    if kind == PLAN_COMMAND and not rest:
        return texts.get(lang, "why_plan")
    if kind == CONTACT_COMMAND and not rest:
        return texts.get(lang, "why_contact")
    if kind == "wrote" and rest:
        return texts.get(lang, "why_wrote", phrase=rest)
    magnet_id, _, tip_id = rest.partition(":")
    if kind == "tip" and (magnet := catalogue.get(magnet_id)) is not None:
        tip = catalogue.tip(magnet_id, tip_id)
        title = localized(magnet.title, lang, texts.default)
        if tip is not None:
            text = localized(tip.text, lang, texts.default)
            heading = plain_text(text).strip().split("\n")[0][:80]
            button = localized(tip.cta, lang, texts.default) if tip.cta else ""
            return texts.get(lang, "why_tip", button=button, tip=heading, title=title)
        return texts.get(lang, "why_tip_gone", title=title)
    if kind == "tip":
        return texts.get(lang, "why_tip_gone", title=magnet_id)
    return reason  # a reason this version does not know: shown as it was stored
