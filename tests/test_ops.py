"""Operations from the command line: check, clear start-up errors, backups while running."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from aiosmtpd.smtp import AuthResult

from bot.ops.checks import features_summary, smtp_problem
from tests.conftest import ROOT, make_settings
from tests.content import MAGNET, write_catalogue
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.smtp_server import SmtpServer, free_port
from tests.test_e2e_kill import BotProcess, wait_for


def aimant(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    values.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
        DATABASE_PATH=str(tmp_path / "aimant.sqlite3"),
    )
    values.update(env)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=values,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_summarises_valid_content(tmp_path: Path) -> None:
    done = aimant(tmp_path, "check")
    assert done.returncode == 0, done.stderr
    assert "3 magnets; texts in en, fr" in done.stdout
    assert "tip colours: 1d after capture" in done.stdout
    assert "OK: no errors, 0 warnings." in done.stdout


def test_check_warns_about_missing_languages_and_fails_on_errors(tmp_path: Path) -> None:
    body = MAGNET.format(id="alpha", question="").replace(', fr = "Conseil deux pour alpha"', "")
    path = write_catalogue(tmp_path / "content", body, ("alpha",))
    done = aimant(tmp_path, "check", CATALOGUE_PATH=str(path))
    assert done.returncode == 0
    assert (
        "warning: magnet 'alpha', tips.t2.text: no fr text (people see the en one)" in done.stdout
    )
    broken = write_catalogue(tmp_path / "bad", body.replace('delay = "2s"', 'delay = "later"'))
    done = aimant(tmp_path, "check", CATALOGUE_PATH=str(broken))
    assert done.returncode == 2
    assert "magnet 'alpha', field tips[0].delay: bad delay 'later'" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_wrong_token_is_refused_clearly(tmp_path: Path) -> None:
    fake = FakeTelegram()
    with FakeTelegramServer(fake, token="999999:THE-RIGHT-ONE") as server:
        done = aimant(tmp_path, BOT_TOKEN="123456:WRONG-secret", BOT_API_URL=server.base_url)
    assert done.returncode == 2
    assert "Telegram refused BOT_TOKEN" in done.stderr
    assert "WRONG-secret" not in done.stderr + done.stdout and "Traceback" not in done.stderr


def test_an_unreachable_bot_api_is_retried_then_reported(tmp_path: Path) -> None:
    done = aimant(tmp_path, BOT_TOKEN="123456:SECRET", BOT_API_URL="http://127.0.0.1:9/bot")
    assert done.returncode == 2
    assert "cannot reach the Bot API at http://127.0.0.1:9/bot (setting BOT_API_URL)" in done.stderr
    assert "after 3 attempts" in done.stderr and "Traceback" not in done.stderr


def test_a_database_that_is_locked_or_not_a_database(tmp_path: Path) -> None:
    database = tmp_path / "aimant.sqlite3"
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("CREATE TABLE x (a)")
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the file
    try:
        done = aimant(tmp_path, BOT_TOKEN="123456:SECRET")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert done.returncode == 2 and "database is locked" in done.stderr
    assert "DATABASE_PATH" in done.stderr
    database.unlink()
    database.write_bytes(b"this is not a database" * 100)
    done = aimant(tmp_path, BOT_TOKEN="123456:SECRET")
    assert done.returncode == 2 and "not a database" in done.stderr


def test_backup_while_the_bot_runs(tmp_path: Path) -> None:
    fake = FakeTelegram()
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(server, fake, tmp_path)
        bot.start()
        try:
            for user in (71, 72, 73):
                fake.message(user, "/start flyer")
            wait_for(lambda: all(fake.sent_to(u) for u in (71, 72, 73)))
            done = aimant(tmp_path, "backup", "copies/monday.sqlite3")
            assert done.returncode == 0, done.stderr
            assert "backed up" in done.stdout
        finally:
            bot.proc.kill()  # type: ignore[union-attr]
            bot.proc.wait()  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "copies" / "monday.sqlite3") as copy:
        assert copy.execute("SELECT COUNT(*) FROM leads").fetchone()[0] == 3
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert aimant(tmp_path, "backup", "x", DATABASE_PATH=str(tmp_path / "none.db")).returncode == 2


async def test_smtp_check_says_what_is_wrong(tmp_path: Path) -> None:
    def authenticator(*args: object) -> AuthResult:
        return AuthResult(success=False, handled=False)  # aiosmtpd then answers 535

    server = SmtpServer(auth_require_tls=False, authenticator=authenticator)
    server.start()
    try:
        base = {"smtp_host": "127.0.0.1", "smtp_security": "none", "smtp_sender": "a@b.co"}
        good = make_settings(tmp_path, smtp_port=server.port, **base)
        assert await smtp_problem(good) is None
        assert "Double opt-in: on (127.0.0.1:" in features_summary(good)
        login = make_settings(tmp_path, smtp_port=server.port, smtp_user="u", smtp_password="p",
                              **base)  # fmt: skip
        problem = await smtp_problem(login)
        assert problem is not None and "login refused" in problem and problem[-1] != "p"
    finally:
        server.stop()
    down = make_settings(tmp_path, smtp_port=free_port(), **base)
    assert "could not reach the mail server" in (await smtp_problem(down) or "")
    assert "Webhooks: off" in features_summary(down)


def test_env_example_copied_as_is_is_valid(tmp_path: Path) -> None:
    """`cp .env.example .env` (with its empty optional values) must start, not fail."""
    env = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    (tmp_path / ".env").write_text((ROOT / ".env.example").read_text())
    env.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
    )
    done = subprocess.run(
        [sys.executable, "-m", "bot", "check"], cwd=tmp_path, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "Double opt-in: off" in done.stdout and "Webhooks: off" in done.stdout
