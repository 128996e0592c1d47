"""End to end: tips from a process, seconds apart, in order, in sending hours; /stop; kill."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.nurture.sender import IN_FLIGHT
from tests import db as raw_db
from tests.content import write_catalogue
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.test_e2e_kill import BotProcess, database, open_store, wait_for

ZONE = ZoneInfo("Europe/Paris")


def window_around_now() -> str:
    """Sending hours from an hour ago to two hours from now (may cross midnight)."""
    now = datetime.now(ZONE)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%H:00}-{end:%H:00}"


@pytest.fixture
def running(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[FakeTelegram, BotProcess]]:
    fake = FakeTelegram()
    catalogue = write_catalogue(tmp_path / "content")
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
            backend,
            CATALOGUE_PATH=str(catalogue),
            SEND_HOURS=window_around_now(),
            TIPS_CHECK_SECONDS="0.3",
        )
        try:
            yield fake, bot
        finally:
            bot.kill()


def walk(fake: FakeTelegram, user: int) -> None:
    fake.message(user, "/start")
    wait_for(lambda: bool(fake.sent_to(user)))
    fake.callback(user, "mag:alpha")
    wait_for(lambda: "email address" in fake.last_to(user).text)
    fake.message(user, f"u{user}@example.com")
    wait_for(lambda: fake.last_to(user).text == "Dog or cat?")
    fake.callback(user, "ans:alpha:dog")
    wait_for(lambda: fake.last_to(user).text.startswith("Enjoy the read!"))


def tips(fake: FakeTelegram, user: int) -> list[str]:
    return [s.text for s in fake.sent_to(user) if s.text.startswith(("Tip", "<b>Tip"))]


def test_tips_arrive_in_order_inside_the_window_and_stop_on_stop(
    running: tuple[FakeTelegram, BotProcess],
) -> None:
    fake, bot = running
    bot.start()
    walk(fake, 501)
    walk(fake, 502)
    fake.message(502, "/stop")
    wait_for(lambda: fake.last_to(502).text.startswith("Done: you won't receive"))
    wait_for(lambda: len(tips(fake, 501)) == 2, timeout=20)
    assert tips(fake, 501) == ["Tip one for alpha", "Tip two for alpha"]
    window = bot.env["SEND_HOURS"]
    start, end = (int(part[:2]) for part in window.split("-"))
    for sent in fake.sent_to(501):
        if sent.text.startswith("Tip"):
            hour = datetime.fromtimestamp(sent.message["date"], ZONE).hour
            assert (start <= hour < end) if start < end else (hour >= start or hour < end)
            assert sent.buttons[-1] == [("🔕 Stop messages from us", "stp")]
    assert tips(fake, 502) == []
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    assert tips(fake, 502) == []
    assert not fake.violations


def test_sigkill_while_a_tip_is_in_flight(running: tuple[FakeTelegram, BotProcess]) -> None:
    fake, bot = running
    db = bot.db
    bot.start()
    walk(fake, 601)
    fake.hold("sendMessage")  # the first tip leaves, Telegram never answers, the process dies
    assert fake.wait_until_holding(20)
    state = raw_db.value(db, "SELECT state FROM tips WHERE tip_id = 't1'")
    assert state == "sending"
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait(timeout=10)
    fake.release(drop=True)
    bot.start()
    wait_for(lambda: len(tips(fake, 601)) == 1, timeout=20)
    assert tips(fake, 601) == ["Tip two for alpha"]  # t1 is unknown: reported, never resent
    bot.stop(signal.SIGTERM)
    rows = raw_db.rows(db, "SELECT tip_id, state FROM tips WHERE user_id = 601")
    unknown = raw_db.value(db, "SELECT COUNT(*) FROM events WHERE kind = 'tip_unknown'")
    assert {r["tip_id"]: r["state"] for r in rows} == {"t1": "unknown", "t2": "sent"}
    assert unknown == 1


TIP_ONE = "<b>Tip one</b> for alpha"
WAITING = range(700, 724)


async def seed_due_tips(db: Path | str, users: range) -> None:
    """Leads who got the alpha guide, each with its first tip due now."""
    store = await open_store(db)
    for user in users:
        await store.leads.touch_visitor(
            user, first_name="L", last_name=None, username=None, language="en", source=None
        )
        await store.leads.request_magnet(user, "alpha", None)
        await store.leads.capture_email(
            user, f"{user}@example.com", consent_version="v", magnet_id=None
        )
        await store.leads.mark_delivered(user, "alpha", None)
        await store.tips.schedule(user, "alpha", "t1", int(time.time()))
    await store.close()


def first_tips(db: Path | str) -> dict[str, list[int]]:
    rows = raw_db.rows(db, "SELECT state, user_id FROM tips WHERE tip_id = 't1'")
    states: dict[str, list[int]] = {}
    for state, user in rows:
        states.setdefault(state, []).append(user)
    return states


def asked(fake: FakeTelegram) -> Counter[int]:
    """First-tip requests that reached the fake, per lead (held and dropped ones too)."""
    return Counter(a.chat_id for a in fake.arrived("sendMessage", TIP_ONE))


@pytest.fixture
def waiting(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[FakeTelegram, BotProcess]]:
    """24 tips due at once at BULK_RATE=4: most of them wait for the pacer."""
    fake = FakeTelegram()
    fake.strict()
    for user in WAITING:
        fake.add_user(user)
    catalogue = write_catalogue(tmp_path / "content")
    asyncio.run(seed_due_tips(database(tmp_path, backend), WAITING))
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
            backend,
            CATALOGUE_PATH=str(catalogue),
            SEND_HOURS="00:00-24:00",
            TIPS_CHECK_SECONDS="0.3",
            BULK_RATE="4",
        )
        try:
            yield fake, bot
        finally:
            bot.kill()


def test_sigkill_with_tips_waiting_for_the_budget(
    waiting: tuple[FakeTelegram, BotProcess],
) -> None:
    fake, bot = waiting
    db = bot.db
    fake.hold("sendMessage")  # Telegram answers nothing: the sends in flight pile up here
    bot.start()
    assert fake.wait_until_holding(20, count=IN_FLIGHT)  # the tick's sends are all in flight
    held = fake.holding
    at_kill = first_tips(db)
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait(timeout=10)
    fake.release(drop=True)
    before = asked(fake)
    assert len(at_kill["sending"]) == held == IN_FLIGHT  # claimed = requests in flight
    assert len(at_kill["pending"]) == len(WAITING) - held  # waiting for a slot: still pending
    bot.start()
    wait_for(lambda: len(first_tips(db).get("sent", [])) == len(WAITING) - held, timeout=30)
    bot.stop(signal.SIGTERM)
    states = first_tips(db)
    assert sorted(states["unknown"]) == sorted(at_kill["sending"])  # unknown <= in flight
    assert all(before[u] == 1 for u in states["unknown"])  # each one really left
    assert asked(fake) == Counter(WAITING)  # every tip asked of Telegram exactly once
    assert all(tips(fake, u) == [] for u in states["unknown"])
    assert all(tips(fake, u) == ["Tip one for alpha"] for u in states["sent"])
    assert not [c for c in fake.calls if c.status == 429]


def test_sigterm_leaves_waiting_tips_pending_and_nothing_unknown(
    waiting: tuple[FakeTelegram, BotProcess],
) -> None:
    fake, bot = waiting
    db = bot.db
    fake.latency = 0.05
    bot.start()
    wait_for(lambda: sum(asked(fake).values()) >= 3)
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    states = first_tips(db)
    assert "sending" not in states and "unknown" not in states
    assert sorted(states["sent"]) == sorted(asked(fake))  # the ones that left were answered
    assert len(states["pending"]) > 0  # the ones waiting for a slot wait for the next start
    bot.start()
    wait_for(lambda: len(first_tips(db).get("sent", [])) == len(WAITING), timeout=30)
    bot.stop(signal.SIGTERM)
    assert "unknown" not in first_tips(db)
    assert asked(fake) == Counter(WAITING)
    assert all(tips(fake, u)[:1] == ["Tip one for alpha"] for u in WAITING)
