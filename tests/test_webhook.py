"""Webhook mode as a process: Telegram's secret header checked, bad bodies refused, health,
and the same no-loss, no-double guarantee as polling."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.fakeapi import FakeTelegram, FakeTelegramServer
from tests.test_e2e_kill import BotProcess, wait_for

SECRET = "s3cret_-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hooked(tmp_path: Path) -> Iterator[tuple[FakeTelegram, BotProcess, str]]:
    fake = FakeTelegram()
    port = free_port()
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(
            server,
            fake,
            tmp_path,
            WEBHOOK_URL=f"http://127.0.0.1:{port}",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
        )
        try:
            yield fake, bot, f"http://127.0.0.1:{port}"
        finally:
            bot.kill()


def start(fake: FakeTelegram, bot: BotProcess, base: str) -> None:
    """Start the bot process and wait until its webhook is registered and answering."""
    bot.starts += 1
    log = (bot.workdir / f"bot-{bot.starts}.log").open("wb")
    bot.proc = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=bot.workdir, env=bot.env, stdout=log, stderr=log
    )
    wait_for(lambda: fake.webhook_url == f"{base}/telegram", 30)
    wait_for(lambda: healthy(base), 30)


def healthy(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health").status_code == 200
    except httpx.TransportError:  # not listening yet
        return False


def post(base: str, update: dict[str, object], secret: str | None = SECRET) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
    return httpx.post(f"{base}/telegram", json=update, headers=headers).status_code


def test_webhook_mode(hooked: tuple[FakeTelegram, BotProcess, str], tmp_path: Path) -> None:
    fake, bot, base = hooked
    start(fake, bot, base)
    set_hook = next(c for c in fake.calls if c.method == "setWebhook")
    assert set_hook.params["secret_token"] == SECRET
    assert post(base, fake.build_message(41, "/start flyer")) == 200
    wait_for(lambda: fake.last_to(41).text.startswith("Hello"))
    # Requests without the right secret are refused and change nothing.
    assert post(base, fake.build_message(42, "/start"), secret=None) == 403
    assert post(base, fake.build_message(42, "/start"), secret="wrong") == 403
    # Malformed bodies are refused.
    assert (
        httpx.post(
            f"{base}/telegram",
            content=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ).status_code
        == 400
    )
    assert post(base, {"no": "update"}) == 400
    for odd in (
        {"update_id": 2**64, "message": {}},
        {"update_id": 7, "message": {"message_id": 1, "date": 1e20, "chat": {"id": 1}}},
        {"update_id": "seven"},
        [1, 2, 3],
    ):
        assert post(base, odd) == 400  # type: ignore[arg-type]
    nested = b"[" * 100_000 + b"]" * 100_000
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert httpx.post(f"{base}/telegram", content=nested, headers=headers).status_code == 400
    assert httpx.get(f"{base}/elsewhere").status_code == 404
    health = httpx.get(f"{base}/health").json()
    assert health["ok"] is True and health["received"] == 1
    # Telegram retrying an update it already delivered: applied once.
    again = fake.build_message(41, "ada@example.com")
    assert post(base, again) == 200 and post(base, again) == 200
    bot.stop(signal.SIGTERM)
    assert bot.proc is not None and bot.proc.returncode == 0
    with sqlite3.connect(tmp_path / "aimant.sqlite3") as raw:
        assert raw.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 1
        assert raw.execute("SELECT COUNT(*) FROM inbox WHERE done_at IS NULL").fetchone()[0] == 0
    assert not any(c.params.get("chat_id") == 42 for c in fake.calls)  # refused: no reply
    assert SECRET not in "".join(bot.logs)
    assert json.dumps(SECRET) not in "".join(bot.logs)


def test_webhook_update_answered_200_then_sigkill_is_not_lost(
    hooked: tuple[FakeTelegram, BotProcess, str], tmp_path: Path
) -> None:
    fake, bot, base = hooked
    start(fake, bot, base)
    fake.hold("sendMessage")  # handling gets stuck after Telegram was told 200
    assert post(base, fake.build_message(43, "/start market")) == 200
    assert fake.wait_until_holding(15)
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait()
    fake.release(drop=True)
    start(fake, bot, base)  # Telegram will not resend it: the inbox replays it
    wait_for(lambda: fake.last_to(43).text.startswith("Hello"), 30)
    bot.stop(signal.SIGTERM)
    with sqlite3.connect(tmp_path / "aimant.sqlite3") as raw:
        source = raw.execute("SELECT first_source FROM leads WHERE user_id = 43").fetchone()
    assert source == ("market",)
