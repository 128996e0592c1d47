"""Spotting a request for a plan or for a conversation in a person's own words."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

# Documented in the README. Matched as whole words, ignoring case and accents; written as
# people write them, since the phrase found is shown to owners and in /mydata.
PLAN_PHRASES: tuple[str, ...] = (
    # French
    "plan personnalisé",
    "plan sur mesure",
    "programme personnalisé",
    # English
    "personalised plan",
    "personalized plan",
    "custom plan",
)

# Asking to talk (an appointment, a call, a quote) is a contact request, not a plan request.
CONTACT_PHRASES: tuple[str, ...] = (
    # French
    "rendez-vous",
    "rendez vous",
    "rdv",
    "devis",
    "prendre contact",
    "me rappeler",
    "m'appeler",
    # English
    "appointment",
    "book a call",
    "call me",
    "a quote",
)

# A negation this many words or fewer before a phrase, in the same clause, cancels it:
# "no need to call me", "je ne veux pas de rendez-vous", "sans rdv".
NEGATION_WINDOW = 4
NEGATIONS: frozenset[str] = frozenset(
    {
        # English
        "no", "not", "never", "don't", "doesn't", "didn't", "won't", "can't", "cannot",
        "without", "nor", "neither", "nobody", "nothing",
        # French
        "ne", "n'", "pas", "jamais", "sans", "aucun", "aucune", "ni",
    }
)  # fmt: skip
# Where a clause ends: a negation before it does not reach the phrase after it.
_CLAUSE_END = re.compile(r"[.,;:!?()\[\]\n]|\b(?:but|mais|however|cependant|pourtant)\b")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z0-9]*)?")


class Ask(StrEnum):
    """What a person asks for in their own words."""

    PLAN = "plan"
    CONTACT = "contact"


@dataclass(frozen=True)
class Request:
    """A request found in a message: what is asked, and the phrase that says it."""

    ask: Ask
    phrase: str


def _fold(text: str) -> str:
    """Lower case without accents, straight apostrophes: `Plan Personnalisé` -> `plan ...`."""
    decomposed = unicodedata.normalize("NFKD", text.lower().replace("’", "'"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _pattern(phrases: tuple[str, ...]) -> re.Pattern[str]:
    """Whole-word alternatives, longest first so `rendez-vous` wins over a shorter phrase."""
    ordered = sorted((_fold(p) for p in phrases), key=len, reverse=True)
    return re.compile(r"(?<![\w'])(" + "|".join(re.escape(p) for p in ordered) + r")(?!\w)")


_AS_WRITTEN = {_fold(p): p for p in (*PLAN_PHRASES, *CONTACT_PHRASES)}
_PATTERNS: tuple[tuple[Ask, re.Pattern[str]], ...] = (
    (Ask.PLAN, _pattern(PLAN_PHRASES)),
    (Ask.CONTACT, _pattern(CONTACT_PHRASES)),
)


def _is_negation(word: str) -> bool:
    """`not`, `pas`, `n'ai`, `don't`, `isn't`...: a word that says no."""
    return word in NEGATIONS or word.startswith("n'") or word.endswith("n't")


def negated(folded: str, start: int) -> bool:
    """Whether a negation shortly before position `start`, in the same clause, denies it."""
    before = folded[:start]
    clause = _CLAUSE_END.split(before)[-1] if before else ""
    words = _WORD.findall(clause)[-NEGATION_WINDOW:]
    return any(_is_negation(w) for w in words)


def find_request(text: str) -> Request | None:
    """The first plan or contact request in `text` that is not negated, if any."""
    folded = _fold(text[:2000])
    found: list[tuple[int, Request]] = []
    for ask, pattern in _PATTERNS:
        for match in pattern.finditer(folded):
            if not negated(folded, match.start()):
                found.append((match.start(), Request(ask, _AS_WRITTEN[match.group(1)])))
                break
    return min(found, key=lambda item: item[0])[1] if found else None


def plan_phrase(text: str) -> str | None:
    """The plan phrase asked for in `text`, if any (negated phrases do not count)."""
    request = find_request(text)
    return request.phrase if request and request.ask is Ask.PLAN else None
