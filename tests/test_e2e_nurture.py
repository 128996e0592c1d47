"""End to end: tips from a process, seconds apart, in order, in sending hours; /stop; kill."""

from __future__ import annotations

import signal
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.fakeapi import FakeTelegram, FakeTelegramServer
from tests.content import write_catalogue
from tests.test_e2e_kill import BotProcess, wait_for

ZONE = ZoneInfo("Europe/Paris")


def window_around_now() -> str:
    """Sending hours from an hour ago to two hours from now (may cross midnight)."""
    now = datetime.now(ZONE)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    return f"{start:%H:00}-{end:%H:00}"


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[FakeTelegram, BotProcess]]:
    fake = FakeTelegram()
    catalogue = write_catalogue(tmp_path / "content")
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
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
            assert sent.buttons[-1] == [("Stop these tips", "stp")]
    assert tips(fake, 502) == []
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    assert tips(fake, 502) == []
    assert not fake.violations


def test_sigkill_while_a_tip_is_in_flight(
    running: tuple[FakeTelegram, BotProcess], tmp_path: Path
) -> None:
    fake, bot = running
    bot.start()
    walk(fake, 601)
    fake.hold("sendMessage")  # the first tip leaves, Telegram never answers, the process dies
    assert fake.wait_until_holding(20)
    with sqlite3.connect(tmp_path / "aimant.sqlite3") as raw:
        assert raw.execute("SELECT state FROM tips WHERE tip_id = 't1'").fetchone() == ("sending",)
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait(timeout=10)
    fake.release(drop=True)
    bot.start()
    wait_for(lambda: len(tips(fake, 601)) == 1, timeout=20)
    assert tips(fake, 601) == ["Tip two for alpha"]  # t1 is unknown: reported, never resent
    bot.stop(signal.SIGTERM)
    with sqlite3.connect(tmp_path / "aimant.sqlite3") as raw:
        states = dict(raw.execute("SELECT tip_id, state FROM tips WHERE user_id = 601").fetchall())
        unknown = raw.execute("SELECT COUNT(*) FROM events WHERE kind = 'tip_unknown'").fetchone()
    assert states == {"t1": "unknown", "t2": "sent"}
    assert unknown[0] == 1
