"""End to end: the bot as a process against the fake Bot API over HTTP, killed mid-funnel.

The process tests run once per store backend (conftest's `backend`): the SQLite file in the
test's folder, or a fresh PostgreSQL database (DATABASE_URL: the bot then runs in shared mode,
a cluster of one). `BotProcess.db` is where the tests' raw reads look (tests/db.py).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.store import Store
from tests import db as raw_db
from tests.conftest import ROOT
from tests.fakeapi import FakeTelegram, FakeTelegramServer

TOKEN = "123456:E2E-secret-token-value"
USER = 4242


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():
                return
        except LookupError:  # nothing sent to that chat yet
            pass
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the bot")
        time.sleep(0.02)


def database(workdir: Path, backend: dict[str, Any] | None = None) -> Path | str:
    """The database of a bot run as a process in `workdir`: its SQLite file, or the
    postgresql:// URL of the test's backend (tests/db.py reads either)."""
    url: str | None = (backend or {}).get("database_url")
    return url if url else workdir / "aimant.sqlite3"


async def open_store(db: Path | str, clock: Callable[[], float] = time.time) -> Store:
    """The store of that database (to seed it before the process starts, say)."""
    if isinstance(db, str):
        return await Store.open_postgres(db, clock)
    return await Store.open(db, clock)


class BotProcess:
    """`python -m bot` in its own process, pointed at the fake server, on the SQLite file in
    `workdir` or (`backend`, conftest) on a PostgreSQL database: `db` is either."""

    def __init__(
        self,
        server: FakeTelegramServer,
        fake: FakeTelegram,
        workdir: Path,
        backend: dict[str, Any] | None = None,
        **extra: str,
    ) -> None:
        self.fake, self.workdir = fake, workdir
        self.db = extra.get("DATABASE_URL") or database(workdir, backend)
        on_postgres = {"DATABASE_URL": self.db} if isinstance(self.db, str) else {}
        self.env = {
            **os.environ,
            "BOT_TOKEN": TOKEN,
            "BOT_API_URL": server.base_url,
            "DATABASE_PATH": str(workdir / "aimant.sqlite3"),
            **on_postgres,
            "CATALOGUE_PATH": str(ROOT / "magnets" / "catalogue.toml"),
            "TEXTS_DIR": str(ROOT / "magnets" / "texts"),
            "LOG_LEVEL": "DEBUG",
            **extra,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.logs: list[str] = []

    def start(self) -> None:
        polls = self.fake.poll_count
        self.starts += 1
        log = (self.workdir / f"bot-{self.starts}.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )
        assert self.fake.wait_until_polling(30, after=polls), "the bot never started polling"

    def kill(self) -> None:
        """Cleanup: no process left behind, nothing held in the fake."""
        self.fake.release(drop=True)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)
        self.logs = [(self.workdir / f"bot-{n}.log").read_text() for n in range(1, self.starts + 1)]


@pytest.fixture
def running(tmp_path: Path, backend: dict[str, Any]) -> Iterator[tuple[FakeTelegram, BotProcess]]:
    fake = FakeTelegram()
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(server, fake, tmp_path, backend)
        try:
            yield fake, bot
        finally:
            bot.kill()


def count(db: Path | str, sql: str) -> int:
    """A COUNT(*) read from the bot's database while (or after) it runs."""
    return int(raw_db.value(db, sql))


def kill_while_email_in_flight(fake: FakeTelegram, bot: BotProcess) -> None:
    """Telegram gets stuck on the bot's next message; the email update is then confirmed
    (Telegram will not send it again) while its handling is still in flight: kill -9."""
    fake.hold("sendMessage")
    email = fake.message(USER, "ada@example.com")
    assert fake.wait_until_holding(15)
    wait_for(lambda: fake.confirmed_offset > email["update_id"])
    assert bot.proc is not None
    bot.proc.kill()
    bot.proc.wait(timeout=10)
    fake.release(drop=True)  # the connection died with the process: nothing was delivered


def test_sigkill_mid_funnel_loses_nothing_and_applies_nothing_twice(
    running: tuple[FakeTelegram, BotProcess],
) -> None:
    fake, bot = running
    db = bot.db
    bot.start()
    fake.message(USER, "/start instagram")
    wait_for(lambda: len(fake.sent_to(USER)) >= 1)
    fake.callback(USER, "mag:what-to-wear")
    wait_for(lambda: "email address" in fake.last_to(USER).text)

    kill_while_email_in_flight(fake, bot)
    assert count(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 1

    bot.start()  # replays the unfinished update
    wait_for(lambda: fake.last_to(USER).text == "What kind of shoot are you planning?")
    fake.callback(USER, "ans:what-to-wear:family")
    wait_for(lambda: any(s.document for s in fake.sent_to(USER)))
    wait_for(lambda: fake.last_to(USER).text.startswith("Enjoy the read!"))
    bot.stop(signal.SIGTERM)

    assert bot.proc.returncode == 0
    assert count(db, "SELECT COUNT(*) FROM leads") == 1
    assert count(db, "SELECT COUNT(*) FROM leads WHERE email = 'ada@example.com'") == 1
    for kind, expected in (("start", 1), ("lead", 1), ("answer", 1), ("download", 1)):
        assert count(db, f"SELECT COUNT(*) FROM events WHERE kind = '{kind}'") == expected, kind
    assert count(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 0
    assert sum(1 for s in fake.sent_to(USER) if s.document) == 1
    assert not fake.violations
    for log in bot.logs:
        assert TOKEN not in log and TOKEN.split(":")[1] not in log
    # The restart found the update in its inbox (Telegram had it confirmed): SQLite's replay
    # and PostgreSQL's shared inbox (its dispatcher hands it) both say so.
    assert "1 update(s) left unfinished" in bot.logs[-1]


def test_no_token_explains_how_to_go_live(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    env.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    out = done.stdout.decode()
    assert done.returncode == 0
    assert "3 magnets" in out and "what-to-wear" in out
    assert "@BotFather" in out and "BOT_TOKEN" in out


def test_bad_settings_and_content_stop_start_up_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "BOT_TOKEN": "nonsense-SECRET", "TIMEZONE": "Nowhere/City"}
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    err = done.stderr.decode()
    assert done.returncode == 2
    assert "BOT_TOKEN" in err and "TIMEZONE" in err and "SECRET" not in err
    assert "Traceback" not in err
    env = {**os.environ, "CATALOGUE_PATH": str(tmp_path / "missing.toml")}
    env.pop("BOT_TOKEN", None)
    done = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, timeout=60
    )
    assert done.returncode == 2
    assert "missing.toml" in done.stderr.decode() and "CATALOGUE_PATH" in done.stderr.decode()
