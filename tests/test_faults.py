"""Operations faults end in one clear line, never in silent loss: two processes on one database,
the file deleted or replaced, read-only or immutable, updates PTB cannot read, getUpdates
failing, a nearly full disk, and DEBUG logs scanned for personal data.

The tests about the SQLite file itself (its lock against a second process, the file deleted,
replaced, read-only or immutable, its disk nearly full) run on SQLite only: a PostgreSQL
store has no file (several processes may share it: tests/test_postgres.py; its lost
connection: tests/test_pg_guard.py). The others take `backend` and run on both."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.ops.guard import LOW_DISK_BYTES, take_lock
from bot.store import Store
from bot.store.core import DatabaseGone
from bot.telegram.intake import Backoff
from bot.telegram.webhook import WebhookServer
from tests import db as raw_db
from tests.conftest import OWNER, ROOT, Harness
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD
from tests.receiver import Receiver, receiver_in_thread
from tests.smtp_server import SmtpServer
from tests.test_e2e_kill import TOKEN, BotProcess, count, database, open_store, wait_for

# A forwarded poll as an older local Bot API server sends it: no `persistent_id`, which PTB 22
# requires (Update.de_json raises TypeError).
POISON = {
    "message": {
        "message_id": 900,
        "date": 1_790_000_000,
        "chat": {"id": 501, "type": "private"},
        "from": {"id": 501, "is_bot": False, "first_name": "Pat"},
        "poll": {
            "id": "1",
            "question": "Coffee or tea?",
            "options": [{"text": "coffee", "voter_count": 0}],
            "total_voter_count": 0,
            "is_closed": False,
            "is_anonymous": True,
            "type": "regular",
            "allows_multiple_answers": False,
        },
    }
}


def aimant(workdir: Path, *args: str, prefix: tuple[str, ...] = (), **env: str) -> Any:
    """`python -m bot ...` to its end, with the test content and a database in `workdir`."""
    values = {k: v for k, v in os.environ.items() if k != "BOT_TOKEN"}
    values.update(
        CATALOGUE_PATH=str(ROOT / "magnets" / "catalogue.toml"),
        TEXTS_DIR=str(ROOT / "magnets" / "texts"),
        DATABASE_PATH=str(workdir / "aimant.sqlite3"),
    )
    values.update(env)  # DATABASE_PATH elsewhere too
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", *args],
        cwd=workdir,
        env=values,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_clear_line(stderr: str, *words: str) -> None:
    """The process said what is wrong in one line, without a traceback."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def telegram() -> Iterator[tuple[FakeTelegram, FakeTelegramServer]]:
    fake = FakeTelegram()
    with FakeTelegramServer(fake) as server:
        yield fake, server


# --- two processes on one database (SQLite's lock file: on PostgreSQL they share it) ----------


def test_the_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    database = tmp_path / "aimant.sqlite3"
    held = take_lock(database)
    assert isinstance(held, int)
    second = take_lock(database)  # flock locks open files: a second open conflicts, even here
    assert isinstance(second, str)
    assert f"pid {os.getpid()}" in second and "already running" in second
    os.close(held)
    again = take_lock(database)
    assert isinstance(again, int)
    os.close(again)


def test_a_second_process_refuses_to_start_and_check_and_backup_still_work(
    tmp_path: Path, telegram: tuple[FakeTelegram, FakeTelegramServer]
) -> None:
    fake, server = telegram
    bot = BotProcess(server, fake, tmp_path)
    try:
        bot.start()
        fake.message(71, "/start flyer")
        wait_for(lambda: bool(fake.sent_to(71)))
        second = aimant(tmp_path, BOT_TOKEN=TOKEN, BOT_API_URL=server.base_url)
        assert second.returncode == 2
        one_clear_line(second.stderr, "already running", "aimant.sqlite3", "DATABASE_PATH")
        assert aimant(tmp_path, "check").returncode == 0
        assert aimant(tmp_path, "backup", "copy.sqlite3").returncode == 0
        preview = aimant(tmp_path, "preview", "--database", "aimant.sqlite3")
        assert preview.returncode == 2 and "already running" in preview.stderr
        fake.message(72, "/start flyer")  # the first one goes on serving
        wait_for(lambda: bool(fake.sent_to(72)))
        bot.stop(signal.SIGTERM)
        assert bot.proc is not None and bot.proc.returncode == 0
    finally:
        bot.kill()
    # A 409 status, not the digits in a port such as 39409 or a log time's milliseconds (,409).
    logs = "".join(bot.logs)
    assert re.search(r"(?<![,.:])\b409\b", logs) is None and "Conflict" not in logs


def test_two_processes_started_at_once_one_runs(
    tmp_path: Path, telegram: tuple[FakeTelegram, FakeTelegramServer]
) -> None:
    fake, server = telegram
    bot = BotProcess(server, fake, tmp_path)
    logs = [(tmp_path / f"twin-{n}.log").open("wb") for n in (1, 2)]
    twins = [
        subprocess.Popen(
            [sys.executable, "-m", "bot"], cwd=tmp_path, env=bot.env, stdout=log, stderr=log
        )
        for log in logs
    ]
    try:
        deadline = time.monotonic() + 60
        while all(p.poll() is None for p in twins) and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = [p for p in twins if p.poll() is not None]
        assert len(refused) == 1 and refused[0].returncode == 2
        text = (tmp_path / f"twin-{twins.index(refused[0]) + 1}.log").read_text()
        assert "already running" in text and "Traceback" not in text
        assert fake.wait_until_polling(30)
        fake.message(73, "/start")
        wait_for(lambda: bool(fake.sent_to(73)))
    finally:
        for proc in twins:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
        fake.release(drop=True)
    assert all(p.returncode in (0, 2) for p in twins)


# --- the database file deleted or replaced while the bot runs (SQLite only: no file on PG) ----


def test_the_database_deleted_while_running_stops_with_one_critical_line(
    tmp_path: Path, telegram: tuple[FakeTelegram, FakeTelegramServer]
) -> None:
    fake, server = telegram
    database = tmp_path / "aimant.sqlite3"
    bot = BotProcess(server, fake, tmp_path)
    try:
        bot.start()
        for user in (81, 82, 83):
            fake.message(user, "/start flyer")
        wait_for(lambda: all(fake.sent_to(u) for u in (81, 82, 83)))
        database.unlink()
        assert bot.proc is not None
        bot.proc.wait(timeout=30)
        bot.logs = [(tmp_path / "bot-1.log").read_text()]
    finally:
        bot.kill()
    assert bot.proc.returncode == 2
    critical = [line for line in bot.logs[0].splitlines() if " CRITICAL " in line]
    assert len(critical) == 1, critical
    assert "was deleted while the bot ran" in critical[0] and "stopping" in critical[0]
    assert "Traceback" not in bot.logs[0]
    [rescued] = tmp_path.glob("aimant.sqlite3.rescued-*")
    assert str(rescued) in critical[0]
    assert count(rescued, "SELECT COUNT(*) FROM leads") == 3  # nothing the bot held is lost


async def test_a_replaced_database_refuses_every_write(tmp_path: Path) -> None:
    database = tmp_path / "aimant.sqlite3"
    store = await Store.open(database)
    try:
        assert store.file_problem() is None
        await store.intake.save([(1, 5, "{}")])
        sqlite3.connect(tmp_path / "other.sqlite3").close()
        os.replace(tmp_path / "other.sqlite3", database)
        problem = store.file_problem()
        assert problem is not None and "replaced by another file" in problem
        with pytest.raises(DatabaseGone):
            await store.intake.save([(2, 5, "{}")])
    finally:
        await store.close()


# --- read-only and immutable database files (SQLite only) -------------------------------------


def as_plain_user() -> tuple[str, ...]:
    """A prefix running a command without root's power to write read-only files."""
    if os.geteuid() != 0:
        return ()
    if shutil.which("setpriv") is None:
        pytest.skip("running as root and setpriv is missing: root writes read-only files")
    return ("setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", "--")


def make_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE x (a)")


def test_a_read_only_database_file_or_folder_ends_in_one_line(tmp_path: Path) -> None:
    prefix = as_plain_user()
    database = tmp_path / "aimant.sqlite3"
    make_database(database)
    database.chmod(0o444)
    done = aimant(tmp_path, prefix=prefix, BOT_TOKEN="123456:SECRET")
    assert done.returncode == 2, done.stderr
    one_clear_line(done.stderr, str(database), "DATABASE_PATH", "read-only", "chmod")
    database.chmod(0o644)
    folder = tmp_path / "ro"
    folder.mkdir()
    make_database(folder / "aimant.sqlite3")
    folder.chmod(0o555)
    try:
        done = aimant(folder, prefix=prefix, BOT_TOKEN="123456:SECRET")
    finally:
        folder.chmod(0o755)
    assert done.returncode == 2, done.stderr
    one_clear_line(done.stderr, "aimant.sqlite3", "DATABASE_PATH", "writable")


def test_an_immutable_database_ends_in_one_line(tmp_path: Path) -> None:
    database = tmp_path / "aimant.sqlite3"
    make_database(database)
    if shutil.which("chattr") is None:
        pytest.skip("no chattr on this machine")
    marked = subprocess.run(["chattr", "+i", str(database)], capture_output=True, text=True)
    if marked.returncode:
        pytest.skip(f"chattr +i refused here: {marked.stderr.strip()}")
    try:
        done = aimant(tmp_path, BOT_TOKEN="123456:SECRET")
    finally:
        subprocess.run(["chattr", "-i", str(database)], check=True)
    assert done.returncode == 2, done.stderr  # not -7 (SIGBUS)
    one_clear_line(done.stderr, str(database), "read-only", "chattr -i")


# --- updates PTB cannot read, getUpdates failing (both backends) ------------------------------


def test_an_unreadable_update_is_set_aside_and_everyone_behind_it_served(
    tmp_path: Path, telegram: tuple[FakeTelegram, FakeTelegramServer], backend: dict[str, Any]
) -> None:
    fake, server = telegram
    fake.add_user(OWNER, first_name="Owner")  # the owner has opened the bot
    bot = BotProcess(server, fake, tmp_path, backend, OWNER_IDS=str(OWNER), LOG_LEVEL="INFO")
    db = bot.db
    try:
        bot.start()
        poison = fake.raw(POISON)
        fake.message(502, "/start")
        wait_for(lambda: bool(fake.sent_to(502)))
        wait_for(lambda: fake.confirmed_offset > poison["update_id"])
        wait_for(lambda: any("could not be read" in t for t in fake.texts_to(OWNER)))
        time.sleep(3)  # a few more polls and guard ticks: nothing repeats
        bot.stop(signal.SIGTERM)
    finally:
        bot.kill()
    assert bot.proc is not None and bot.proc.returncode == 0
    assert count(db, "SELECT COUNT(*) FROM unreadable_updates") == 1
    row = raw_db.one(db, "SELECT payload, user_id, error FROM unreadable_updates")
    assert row is not None
    payload, user, error = row
    assert '"Coffee or tea?"' in payload and user == 501 and "persistent_id" in error
    assert count(db, "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL") == 0
    notices = [t for t in fake.texts_to(OWNER) if "could not be read" in t]
    assert len(notices) == 1 and notices[0].startswith("⚠️ 1 update from Telegram")
    log = bot.logs[0]
    assert log.count("set aside") == 1 and "CRITICAL" not in log and "Traceback" not in log
    assert "Coffee or tea?" not in log


async def test_updates_set_aside_are_reported_once_kept_30_days_and_erased(
    tmp_path: Path, backend: dict[str, Any]
) -> None:
    now = [1_790_000_000.0]
    store = await open_store(database(tmp_path, backend), clock=lambda: now[0])
    try:
        await store.aside.keep(1, 501, '{"update_id": 1}', "TypeError: x")
        await store.aside.keep(1, 501, '{"update_id": 1}', "TypeError: x")  # once per id
        await store.aside.keep(2, 502, '{"update_id": 2}', "TypeError: x")
        assert await store.aside.to_report() == 2
        assert await store.aside.to_report() == 0  # reported once
        await store.leads.erase(502)
        assert await store.aside.count() == 1
        now[0] += 31 * 86400
        await store.aside.to_report()
        assert await store.aside.count() == 0
    finally:
        await store.close()


@pytest.mark.usefixtures("backend")  # the in-process bot on each backend (conftest)
async def test_an_unreadable_webhook_update_is_set_aside_then_refused(
    bot_with: Callable[..., Awaitable[Harness]],
) -> None:
    harness = await bot_with(webhook_url="http://127.0.0.1:1", webhook_secret="s" * 20)
    receiver = WebhookServer(harness.app, harness.svc)
    for _ in range(2):  # Telegram retries what got a 400: kept once
        answer = await receiver.accept(json.dumps({"update_id": 77, **POISON}).encode())
        assert answer.status_code == 400
    assert await harness.svc.store.aside.count() == 1
    assert (await receiver.accept(b'{"nothing": 1}')).status_code == 400


async def test_failing_get_updates_backs_off_and_logs_once_a_minute(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """SQLite's disk-full error on saving the updates (on PostgreSQL a failing store is a lost
    connection, which stops the process: tests/test_pg_guard.py)."""

    async def disk_full(*args: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    waits: list[float] = []

    async def no_wait(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(bot.svc.store.intake, "save", disk_full)
    monkeypatch.setattr("bot.telegram.intake.asyncio.sleep", no_wait)
    bot.fake.message(61, "/start")
    caplog.set_level(logging.INFO, logger="bot.telegram.intake")
    for _ in range(10):
        assert await bot.app.bot.get_updates(timeout=5) == ()  # nothing confirmed: kept by Telegram
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]
    assert await bot.app.bot.get_updates(timeout=0) == ()  # the last call at a stop: no wait
    assert len(waits) == 10
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "database or disk is full" in errors[0].getMessage()
    monkeypatch.undo()
    [update] = await bot.app.bot.get_updates(timeout=5)
    assert update.message is not None and update.message.text == "/start"
    assert "getUpdates works again" in caplog.text


def test_the_backoff_logs_a_count_once_a_minute(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    backoff = Backoff("getUpdates", clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="bot.telegram.intake")
    for _ in range(300):  # five minutes of failures, one a second
        backoff.failed(OSError(28, "No space left on device"))
        now[0] += 1
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 5
    assert "failed 1 time(s)" in lines[0] and "failed 60 time(s)" in lines[1]


# --- a nearly full disk (under the SQLite file; PostgreSQL's disk is its server's) -------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 16 MB filesystem (tmpfs), if this machine lets the tests mount one."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode:
        pytest.skip(f"cannot mount a small filesystem here: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave: int) -> Path:
    """Fill the filesystem until `leave` bytes are free."""
    filler = disk / "filler"
    with filler.open("wb") as out:
        out.write(b"\0" * max(0, shutil.disk_usage(disk).free - leave))
    return filler


def test_a_nearly_full_disk_stops_cleanly_and_recovers_once_freed(
    small_disk: Path, telegram: tuple[FakeTelegram, FakeTelegramServer]
) -> None:
    fake, server = telegram
    bot = BotProcess(server, fake, small_disk, LOG_LEVEL="INFO")
    try:
        bot.start()
        fake.message(91, "/start flyer")
        wait_for(lambda: bool(fake.sent_to(91)))
        filler = fill(small_disk, LOW_DISK_BYTES // 2)
        assert bot.proc is not None
        bot.proc.wait(timeout=30)
        log = (small_disk / "bot-1.log").read_text()
        assert bot.proc.returncode == 2
        critical = [line for line in log.splitlines() if " CRITICAL " in line]
        assert len(critical) == 1 and "MB free on the disk of" in critical[0], log
        assert "Traceback" not in log
        assert not (small_disk / "aimant.sqlite3-wal").exists() or (
            (small_disk / "aimant.sqlite3-wal").stat().st_size == 0
        )
        again = aimant(small_disk, BOT_TOKEN=TOKEN, BOT_API_URL=server.base_url)
        assert again.returncode == 2
        one_clear_line(again.stderr, "MB free", "free some space")
        filler.unlink()
        bot.start()  # room again: it starts and goes on where it stopped
        fake.message(92, "/start flyer")
        wait_for(lambda: bool(fake.sent_to(92)))
        bot.stop(signal.SIGTERM)
    finally:
        bot.kill()
    assert count(small_disk / "aimant.sqlite3", "SELECT COUNT(*) FROM leads") == 2


# --- DEBUG logs carry no personal data and no secret (both backends) --------------------------


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """The CRM's receiver on its own event loop in a thread."""
    with receiver_in_thread("debug-hook-secret") as server:
        yield server


def test_debug_logs_carry_no_personal_data_or_secret(
    tmp_path: Path,
    telegram: tuple[FakeTelegram, FakeTelegramServer],
    receiver: Receiver,
    backend: dict[str, Any],
) -> None:
    fake, server = telegram
    smtp = SmtpServer()
    smtp.start()
    hook_path = "/hook/t0kenInThePath9f3e"
    bot = BotProcess(
        server,
        fake,
        tmp_path,
        backend,
        LOG_LEVEL="DEBUG",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp.port),
        SMTP_SECURITY="none",
        SMTP_SENDER="hello@example.com",
        CRM_WEBHOOK_URLS=receiver.url.replace("/hook", hook_path),
        CRM_WEBHOOK_SECRET="debug-hook-secret",
        OUTBOX_CHECK_SECONDS="0.2",
    )
    profile = {"first_name": "Zebulon", "last_name": "Quillfeather", "username": "zquill77"}
    email = "zeb.quill@example.org"
    # On PostgreSQL, DATABASE_URL's password is a secret too (a SQLite file has none).
    passwords = [PASSWORD] if isinstance(bot.db, str) else []
    assert all(f":{p}@" in str(bot.db) for p in passwords)  # in the URL the process is given
    try:
        bot.start()
        fake.message(USER_DEBUG, "/start instagram__what-to-wear", **profile)
        wait_for(lambda: "email address" in fake.last_to(USER_DEBUG).text)
        fake.message(USER_DEBUG, email, **profile)
        wait_for(lambda: len(smtp.inbox.messages) == 1)
        code = smtp.inbox.code_for(email)
        fake.message(USER_DEBUG, code, **profile)
        wait_for(lambda: fake.last_to(USER_DEBUG).text == "What kind of shoot are you planning?")
        wait_for(lambda: len(receiver.accepted) >= 2)
        bot.stop(signal.SIGTERM)
    finally:
        bot.kill()
        smtp.stop()
    log = bot.logs[0]
    assert f"start from {USER_DEBUG}" in log  # the funnel's own lines are there
    for secret in (
        email,
        "zeb.quill",
        "Zebulon",
        "Quillfeather",
        "zquill77",
        code,
        hook_path,
        "t0kenInThePath9f3e",
        TOKEN.split(":")[1],
        "debug-hook-secret",
        *passwords,
    ):
        assert secret not in log, f"{secret!r} is in the log"
    assert "127.0.0.1" in log  # a URL's host is shown, its path never


USER_DEBUG = 4343
