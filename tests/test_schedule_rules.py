"""Nurture rules as plain functions: sending hours, backoff, plan phrases, the score."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.content.texts import load_texts
from bot.funnel.intent import Ask, find_request, plan_phrase
from bot.funnel.scoring import Facts, Scoring, explain, score
from bot.nurture.schedule import Window, backoff, next_send_time

PARIS = ZoneInfo("Europe/Paris")
ROOT = Path(__file__).resolve().parents[1]


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
    ("text", "ask", "phrase"),
    [
        ("Je voudrais un plan personnalisé svp", Ask.PLAN, "plan personnalisé"),
        ("PLAN PERSONNALISÉ", Ask.PLAN, "plan personnalisé"),
        ("I'd like a personalized plan", Ask.PLAN, "personalized plan"),
        ("On peut prendre rendez-vous ?", Ask.CONTACT, "rendez-vous"),
        ("Je voudrais prendre rendez-vous svp", Ask.CONTACT, "rendez-vous"),
        ("un rdv mardi ?", Ask.CONTACT, "rdv"),
        ("Can I book an appointment?", Ask.CONTACT, "appointment"),
        ("I'd like to book an appointment", Ask.CONTACT, "appointment"),
        ("Pouvez-vous m’appeler demain ?", Ask.CONTACT, "m'appeler"),
        ("No, call me please", Ask.CONTACT, "call me"),  # the "no" ends its own clause
        ("Pas de plan pour l'instant, mais un devis oui", Ask.CONTACT, "devis"),
        ("hello there", None, None),
        ("ordvx", None, None),
        ("my email is ada@example.com", None, None),
        # Negations shortly before the phrase cancel it, in both languages.
        ("No need to call me, I just want the guide", None, None),
        ("I don't want a personalised plan", None, None),
        ("I do not need an appointment", None, None),
        ("never call me", None, None),
        ("Je ne veux pas de rendez-vous", None, None),
        ("Pas besoin de plan personnalisé, merci", None, None),
        ("je n'ai pas besoin d'un devis", None, None),
        ("Sans rdv si possible", None, None),
        ("Jamais de rendez-vous le lundi", None, None),
    ],
)
def test_requests_in_own_words(text: str, ask: Ask | None, phrase: str | None) -> None:
    found = find_request(text)
    assert (found.ask if found else None) == ask
    assert (found.phrase if found else None) == phrase
    assert plan_phrase(text) == (phrase if ask is Ask.PLAN else None)


def test_score_explains_itself_in_the_readers_language_with_plurals() -> None:
    texts = load_texts(ROOT / "magnets" / "texts", "en")
    facts = Facts(True, 1, 0, 5, True, False, 2)
    total, signals = score(facts, Scoring())
    assert total == 10 + 20 + 15 + 40 + 5
    assert (
        explain(total, signals, texts, "en")
        == "90 = email +10, fit answer +20, 3 tip clicks +15, plan requested +40, 1 more guide +5"
    )
    assert explain(total, signals, texts, "fr") == (
        "90 = e-mail +10, réponse adaptée +20, 3 clics sur des conseils +15, plan demandé +40,"
        " 1 guide de plus +5"
    )
    total, signals = score(Facts(True, 2, 0, 1, False, True, 3), Scoring())
    assert explain(total, signals, texts, "en") == (
        "95 = email +10, 2 fit answers +40, tip click +5, wrote to us +30, 2 more guides +10"
    )
    assert score(Facts(False, 0, 0, 0, False, False, 0), Scoring()) == (0, [])
    assert explain(0, [], texts, "en") == "0 = nothing yet"
    assert explain(0, [], texts, "fr") == "0 = rien pour l'instant"
    assert score(Facts(True, 0, 1, 0, False, False, 1), Scoring(not_fit_answer=-5))[0] == 5
