"""Synthetic data for the benchmarks: many leads and events, written in bulk.

Benchmarks only: this writes SQL directly for speed (the bot itself goes through bot.store).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

from bot.store import Store

MAGNETS = ("what-to-wear", "gardening-basics", "training-plan")
FIRST_TIP = {"what-to-wear": "colours", "gardening-basics": "soil-test", "training-plan": "form"}
SOURCES = ("instagram", "flyer", "market-stall", "facebook", "newsletter", None)
START = 1_750_000_000  # mid-2025: a year and a half of history before "now"
SPAN = 500 * 86400
TEAM_SHARE = 0.3  # people who wrote to the team inbox at least once
Row = tuple[int, int, str, str | None, str | None, str | None]


def team_history(
    rng: random.Random, person: int, at: int, events: list[Row]
) -> tuple[int, int, int, int | None, int, int]:
    """A person's messages to the team, as bot.store.team logs them: a `team_in` event per
    message, a `team_answer` (value: the seconds waited) when the team answered a wait (9 in
    10), one to three waits; returns the person's `conversations` row."""
    first, written, waiting = at + rng.randrange(3600, 86400 * 30), 0, None
    when = first
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        for n in range(rng.choice((1, 1, 2, 3))):
            events.append((when + 40 * n, person, "team_in", None, None, None))
            written += 1
        last = when + 40 * n
        if rng.random() < 0.9:
            waited = rng.randrange(60, 86400 * 2)
            events.append((when + waited, person, "team_answer", None, None, str(waited)))
            when += waited + rng.randrange(86400, 86400 * 20)
        else:
            waiting = when
            break
    return (person, first, last, waiting, first, written)


async def create(path: Path) -> None:
    """An empty, migrated database."""
    store = await Store.open(path)
    await store.close()


def seed(
    path: Path, leads: int, events_target: int, seed_value: int = 7, tips_due: bool = True
) -> int:
    """`leads` leads with a realistic event history, about `events_target` events in all;
    without `tips_due`, each lead's pending tip is due years from now, not at once."""
    later = 86400 * 60 if tips_due else 86400 * 3650  # a bot sends a due tip as soon as it runs
    rng = random.Random(seed_value)
    events: list[Row] = []
    lead_rows = []
    magnet_rows = []
    tip_rows = []
    conversation_rows: list[tuple[int, int, int, int | None, int, int]] = []
    per_lead = max(1, round((events_target / max(leads, 1) - 1) / 0.6)) + 1
    for person in range(1, leads + 1):
        at = START + rng.randrange(SPAN)
        source = rng.choice(SOURCES)
        events.append((at, person, "start", None, source, None))
        magnet = rng.choice(MAGNETS)
        has_email = rng.random() < 0.6
        stage = "visitor"
        if has_email:
            events.append((at + 60, person, "lead", magnet, source, None))
            fit = rng.random() < 0.7
            answer = "fit" if fit else "not_fit"
            events.append((at + 90, person, "answer", magnet, source, answer))
            events.append((at + 100, person, "download", magnet, None, "first"))
            stage = "lead"
            magnet_rows.append((person, magnet, source, at + 30, "a", int(fit), at + 90, at + 100))
            for n in range(max(0, per_lead - 5)):
                events.append((at + 86400 * (n + 1), person, "tip_sent", magnet, None, f"t{n}"))
                tip_rows.append((person, magnet, f"t{n}", at + 86400 * (n + 1), "sent"))
            tip_rows.append((person, magnet, FIRST_TIP[magnet], at + later, "pending"))
            if rng.random() < 0.1:
                events.append((at + 86400 * 3, person, "tip_click", magnet, None, "t0"))
            if rng.random() < 0.05:
                events.append((at + 86400 * 4, person, "plan", None, None, None))
                stage = "hot"
            if rng.random() < 0.02:
                events.append((at + 86400 * 9, person, "won", None, None, None))
                stage = "customer"
            if rng.random() < 0.05:
                events.append((at + 86400 * 10, person, "unsubscribe", None, None, None))
                stage = "gone"
        if rng.random() < TEAM_SHARE:
            conversation_rows.append(team_history(rng, person, at, events))
        lead_rows.append(
            (
                person,
                f"Lead{person}",
                "en" if person % 3 else "fr",
                source,
                f"lead{person}@example.com" if has_email else None,
                at + 60 if has_email else None,
                int(has_email and stage != "gone"),
                stage,
                at,
                at,
            )
        )
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO leads (user_id, first_name, language, first_source, email, email_at,"
            " subscribed, stage, started_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            lead_rows,
        )
        db.executemany(
            "INSERT INTO lead_magnets (user_id, magnet_id, source, requested_at, answer_id,"
            " answer_fit, answered_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            magnet_rows,
        )
        db.executemany(
            "INSERT INTO tips (user_id, magnet_id, tip_id, due_at, state) VALUES (?, ?, ?, ?, ?)",
            tip_rows,
        )
        db.executemany(
            "INSERT INTO events (at, person, kind, magnet_id, source, value)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            events,
        )
        db.executemany(
            "INSERT INTO conversations (person, first_at, last_in_at, waiting_since, acked_at,"
            " messages) VALUES (?, ?, ?, ?, ?, ?)",
            conversation_rows,
        )
        db.execute("ANALYZE")
    return len(events)
