"""Lead score: documented rules, weights from the catalogue's optional [scoring] table."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

from bot.content.texts import Texts


class Scoring(BaseModel):
    """Points per signal; owners may override any of them in `[scoring]`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: int = 10
    fit_answer: int = 20
    not_fit_answer: int = -10
    tip_click: int = 5
    max_tip_clicks: int = Field(default=3, ge=0)
    plan_request: int = 40
    contact_request: int = 30
    extra_magnet: int = 5


@dataclass(frozen=True)
class Facts:
    """What the score is computed from (all from the store)."""

    has_email: bool
    fit_answers: int
    not_fit_answers: int
    tip_clicks: int
    plan_requested: bool
    contacted_us: bool
    magnets_delivered: int


@dataclass(frozen=True)
class Signal:
    """One line of the score: which signal (a texts key), how many times, how many points."""

    key: str
    count: int
    points: int


# Signals counted more than once are said with a count (plural texts `<key>_one/_other`).
_COUNTED = frozenset({"score_fit", "score_not_fit", "score_click", "score_guides"})


def score(facts: Facts, rules: Scoring) -> tuple[int, list[Signal]]:
    """The score and the signals it is made of, in the order owners read them."""
    clicks = min(facts.tip_clicks, rules.max_tip_clicks)
    extra = max(facts.magnets_delivered - 1, 0)
    candidates = (
        ("score_email", int(facts.has_email), rules.email),
        ("score_fit", facts.fit_answers, rules.fit_answer),
        ("score_not_fit", facts.not_fit_answers, rules.not_fit_answer),
        ("score_click", clicks, rules.tip_click),
        ("score_plan", int(facts.plan_requested), rules.plan_request),
        ("score_contact", int(facts.contacted_us), rules.contact_request),
        ("score_guides", extra, rules.extra_magnet),
    )
    signals = [Signal(key, n, each * n) for key, n, each in candidates if n]
    return sum(s.points for s in signals), signals


def explain(total: int, signals: list[Signal], texts: Texts, lang: str) -> str:
    """The score in one line in `lang`, e.g. `55 = email +10, fit answer +20, ...`."""
    parts = [
        f"{texts.count(lang, s.key, s.count) if s.key in _COUNTED else texts.get(lang, s.key)}"
        f" {s.points:+d}"
        for s in signals
    ]
    return f"{total} = {', '.join(parts) or texts.get(lang, 'score_nothing')}"
