"""Nurture rules as plain functions: sending hours, backoff, plan phrases, the score."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from bot.intent import plan_phrase
from bot.schedule import Window, backoff, next_send_time
from bot.scoring import Facts, Scoring, score

PARIS = ZoneInfo("Europe/Paris")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=PARIS).timestamp()


def local(ts: float) -> str:
    return datetime.fromtimestamp(ts, PARIS).strftime("%Y-%m-%d %H:%M")


def test_window_parse_and_contains() -> None:
    day = Window.parse("09:00-20:00")
    assert day.contains(datetime(2026, 1, 1, 9).time())
    assert not day.contains(datetime(2026, 1, 1, 20).time())
    night = Window.parse("22:00-06:00")
    assert night.contains(datetime(2026, 1, 1, 23).time())
    assert night.contains(datetime(2026, 1, 1, 5).time())
    assert not night.contains(datetime(2026, 1, 1, 12).time())
    assert Window.parse("00:00-24:00").all_day
    for bad in ("9-20", "25:00-26:00", "09:00-24:30", "nine to five"):
        with pytest.raises(ValueError):
            Window.parse(bad)


def test_tip_due_at_night_waits_for_the_morning() -> None:
    window = Window.parse("09:00-20:00")
    assert local(next_send_time(at("2026-09-22 16:13"), window, PARIS)) == "2026-09-22 16:13"
    assert local(next_send_time(at("2026-09-22 23:30"), window, PARIS)) == "2026-09-23 09:00"
    assert local(next_send_time(at("2026-09-22 06:00"), window, PARIS)) == "2026-09-22 09:00"
    # Across a daylight-saving change, the morning is still 09:00 local.
    assert local(next_send_time(at("2026-10-24 22:00"), window, PARIS)) == "2026-10-25 09:00"
    other = ZoneInfo("America/New_York")
    morning = next_send_time(at("2026-09-22 12:00"), window, other)  # 06:00 in New York
    assert datetime.fromtimestamp(morning, other).strftime("%H:%M") == "09:00"


def test_backoff_grows_and_is_capped() -> None:
    assert [backoff(n) for n in (1, 2, 3)] == [30, 60, 120]
    assert backoff(20) == 3600


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("Je voudrais un plan personnalisé svp", "plan personnalise"),
        ("PLAN PERSONNALISÉ", "plan personnalise"),
        ("On peut prendre rendez-vous ?", "rendez-vous"),
        ("un rdv mardi ?", "rdv"),
        ("Can I book an appointment?", "appointment"),
        ("I'd like a personalized plan", "personalized plan"),
        ("hello there", None),
        ("ordvx", None),
        ("my email is ada@example.com", None),
    ],
)
def test_plan_phrases(text: str, phrase: str | None) -> None:
    assert plan_phrase(text) == phrase


def test_score_explains_itself() -> None:
    facts = Facts(True, 1, 0, 5, True, False, 2)
    total, why = score(facts, Scoring())
    assert total == 10 + 20 + 15 + 40 + 5
    assert (
        why
        == "90 = email +10, fit answer +20, 3 × tip click +15, plan requested +40, more guide +5"
    )
    assert score(Facts(False, 0, 0, 0, False, False, 0), Scoring()) == (0, "0 = nothing yet")
    assert score(Facts(True, 0, 1, 0, False, False, 1), Scoring(not_fit_answer=-5))[0] == 5
