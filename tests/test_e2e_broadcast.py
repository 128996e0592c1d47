"""End to end: a broadcast from a process killed with SIGKILL mid-way resumes with no duplicates."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.telegram.pacing import in_flight_for
from tests import db as raw_db
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.test_e2e_kill import BotProcess, database, open_store, wait_for

OWNER = 777
LEADS = range(1000, 1030)


async def seed(db: Path | str) -> None:
    store = await open_store(db)
    for user in LEADS:
        await store.leads.touch_visitor(
            user, first_name="L", last_name=None, username=None, language="en", source="flyer"
        )
        await store.leads.request_magnet(user, "what-to-wear", None)
        await store.leads.capture_email(
            user, f"{user}@example.com", consent_version="v", magnet_id=None
        )
        await store.leads.mark_delivered(user, "what-to-wear", None)
    await store.close()


@pytest.fixture
def running(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[FakeTelegram, BotProcess]]:
    fake = FakeTelegram()
    fake.strict()  # Telegram's limits: any 429 to a lead would be the bot's fault
    for user in (OWNER, *LEADS):
        fake.add_user(user)
    asyncio.run(seed(database(tmp_path, backend)))
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(server, fake, tmp_path, backend, OWNER_IDS=str(OWNER), BULK_RATE="20")
        try:
            yield fake, bot
        finally:
            bot.kill()


def got(fake: FakeTelegram, user: int) -> int:
    return sum(1 for s in fake.sent_to(user) if s.text == "Big news for everyone")


def requested(fake: FakeTelegram) -> Counter[int]:
    """Broadcast requests that reached the fake, per lead (held and dropped ones too)."""
    asked = fake.arrived("copyMessage")  # a broadcast is a copy of the owner's message
    return Counter(a.chat_id for a in asked if a.chat_id in LEADS)


def recipients(db: Path | str) -> dict[str, list[int]]:
    states: dict[str, list[int]] = {}
    for state, user in raw_db.rows(db, "SELECT state, user_id FROM broadcast_recipients"):
        states.setdefault(state, []).append(user)
    return states


def refused(fake: FakeTelegram) -> int:
    """429 answers to leads."""
    return sum(1 for c in fake.calls if c.status == 429 and c.params.get("chat_id") in LEADS)


def test_sigkill_mid_broadcast_then_resume(running: tuple[FakeTelegram, BotProcess]) -> None:
    fake, bot = running
    bot.start()
    fake.message(OWNER, "/broadcast Big news for everyone")
    wait_for(lambda: fake.last_to(OWNER).text.startswith("📣 Broadcast #1:"))
    picker = fake.last_to(OWNER)
    fake.callback(OWNER, picker.buttons[0][0][1])
    wait_for(lambda: "Audience: 30" in fake.last_to(OWNER).text)
    fake.callback(OWNER, "bc:go:1:0")
    wait_for(lambda: sum(got(fake, u) for u in LEADS) >= 10)
    # Telegram stops answering: every send the bot may have in flight ends up held here. Once
    # they all are (the pipeline is full), nothing else is claimed: kill -9 at that moment.
    fake.hold("copyMessage")
    in_flight = in_flight_for(20)  # BULK_RATE=20
    assert fake.wait_until_holding(10, count=in_flight)
    asked = requested(fake)
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait(timeout=10)
    fake.release(drop=True)  # those in flight never reached anybody
    unknown = recipients(bot.db).get("sending", [])
    bot.start()
    wait_for(lambda: fake.last_to(OWNER).text.startswith("✅ Broadcast #1 finished"), timeout=30)
    bot.stop(signal.SIGTERM)
    states = recipients(bot.db)
    # Unknown means a request left and no answer came: exactly those held at the kill.
    assert sorted(states["unknown"]) == sorted(unknown)
    assert len(unknown) <= in_flight
    assert all(asked[u] == 1 for u in unknown)
    # Everyone else: delivered exactly once, and asked of Telegram exactly once.
    assert sorted(states["sent"]) == sorted(set(LEADS) - set(unknown))
    assert all(got(fake, u) == 1 for u in states["sent"])
    assert all(got(fake, u) == 0 for u in unknown)
    assert requested(fake) == Counter(LEADS)
    assert refused(fake) == 0
    assert "resuming broadcast 1" in bot.logs[-1]


def test_sigterm_during_a_broadcast_stops_cleanly_and_resumes(
    running: tuple[FakeTelegram, BotProcess],
) -> None:
    fake, bot = running
    fake.latency = 0.05
    fake.release()  # nothing held: in-flight sends are answered, the stop lets them finish
    bot.start()
    fake.message(OWNER, "/broadcast Big news for everyone")
    wait_for(lambda: fake.last_to(OWNER).text.startswith("📣 Broadcast #1:"))
    fake.callback(OWNER, fake.last_to(OWNER).buttons[0][0][1])
    wait_for(lambda: "Audience: 30" in fake.last_to(OWNER).text)
    fake.callback(OWNER, "bc:go:1:0")
    wait_for(lambda: sum(got(fake, u) for u in LEADS) >= 5)
    began = time.monotonic()
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    assert time.monotonic() - began < 15
    assert "paused for shutdown" in bot.logs[-1]
    states = recipients(bot.db)
    assert "sending" not in states  # the stop finished what was in flight, claimed no more
    assert len(states["pending"]) > 0  # not everything went out before the stop
    assert sorted(states["sent"]) == sorted(u for u, n in requested(fake).items() if n)
    bot.start()
    wait_for(lambda: fake.last_to(OWNER).text.startswith("✅ Broadcast #1 finished"), timeout=30)
    bot.stop(signal.SIGTERM)
    received = [got(fake, u) for u in LEADS]
    assert received == [1] * len(LEADS)  # a graceful stop finishes what is in flight: no unknown
    assert requested(fake) == Counter(LEADS)  # each asked of Telegram once
    assert "unknown" not in recipients(bot.db)
    assert refused(fake) == 0
