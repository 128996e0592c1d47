"""Lead score: documented rules, weights from the catalogue's optional [scoring] table."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field


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


def score(facts: Facts, rules: Scoring) -> tuple[int, str]:
    """The score and its one-line explanation, e.g. `55 = email +10, fit answer +20, ...`."""
    parts: list[tuple[str, int]] = []
    if facts.has_email:
        parts.append(("email", rules.email))
    if facts.fit_answers:
        parts.append(
            (_times(facts.fit_answers, "fit answer"), rules.fit_answer * facts.fit_answers)
        )
    if facts.not_fit_answers:
        parts.append(
            (
                _times(facts.not_fit_answers, "not-fit answer"),
                rules.not_fit_answer * facts.not_fit_answers,
            )
        )
    clicks = min(facts.tip_clicks, rules.max_tip_clicks)
    if clicks:
        parts.append((_times(clicks, "tip click"), rules.tip_click * clicks))
    if facts.plan_requested:
        parts.append(("plan requested", rules.plan_request))
    if facts.contacted_us:
        parts.append(("wrote to us", rules.contact_request))
    if facts.magnets_delivered > 1:
        extra = facts.magnets_delivered - 1
        parts.append((_times(extra, "more guide"), rules.extra_magnet * extra))
    total = sum(points for _, points in parts)
    why = ", ".join(f"{name} {points:+d}" for name, points in parts) or "nothing yet"
    return total, f"{total} = {why}"


def _times(count: int, what: str) -> str:
    return what if count == 1 else f"{count} × {what}"
