"""PostgreSQL: the same schema as SQLite's, migrations, several processes on one database,
`aimant db copy` losing no row, and DATABASE_URL's password never shown."""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import asyncpg
import pytest

from bench.seed import create, seed
from bot.__main__ import main
from bot.broadcast.draft import Version
from bot.ops.checks import postgres_problem
from bot.ops.dbcopy import CopyError, copy_sqlite_to_postgres, pg_tables, sqlite_tables
from bot.settings import Settings
from bot.store import Store
from bot.store.migrations import MIGRATIONS
from bot.store.pg import PgConnection
from tests import db as raw_db
from tests.fakeapi import FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD
from tests.test_e2e_kill import TOKEN, USER, BotProcess, wait_for


async def test_schema_has_the_same_tables_and_columns_as_sqlite(
    tmp_path: Path, pg_url: str
) -> None:
    lite = await Store.open(tmp_path / "a.sqlite3")
    await lite.close()
    with closing(sqlite3.connect(tmp_path / "a.sqlite3")) as raw:
        expected = sqlite_tables(raw)
    store = await Store.open_postgres(pg_url)
    try:
        assert await store.schema_version() == len(MIGRATIONS)
        assert await pg_tables(store._db) == expected  # type: ignore[arg-type]
        assert len(expected) >= 20
    finally:
        await store.close()


async def test_reopening_applies_nothing_and_a_newer_schema_is_refused(pg_url: str) -> None:
    store = await Store.open_postgres(pg_url)
    await store.sessions.set(5, "email", "m1", typed="x")
    await store.close()
    store = await Store.open_postgres(pg_url)
    session = await store.sessions.get(5)
    assert session is not None and session.data == {"typed": "x"}
    db: PgConnection = store._db  # type: ignore[assignment]
    await db.execute_raw("UPDATE aimant_schema SET version = $1", len(MIGRATIONS) + 1)
    await store.close()
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open_postgres(pg_url)


async def test_several_processes_share_one_database(pg_url: str) -> None:
    """Shared mode: a second process is accepted (one of them is elected the sender, see
    tests/test_cluster.py), and the start-up check of a third does not refuse it."""
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    first = await Store.open_postgres(pg_url)
    second = await Store.open_postgres(pg_url)
    try:
        assert await postgres_problem(settings) is None  # a third may start too
        await first.sessions.set(5, "email", "m1", typed="x")
        assert await second.sessions.get(5) is not None  # one database
    finally:
        await first.close()
        await second.close()


async def test_processes_started_together_pass_the_check_together(pg_url: str) -> None:
    """Replicas started at once (compose `replicas: 3`, aimant@1..3, tests/cluster.py) check the
    database at the same moment: none refuses another (the check connects and sends `SELECT 1`,
    it takes no lock), and none leaves a session behind."""
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    assert await asyncio.gather(postgres_problem(settings), postgres_problem(settings)) == [
        None,
        None,
    ]
    conn = await asyncpg.connect(pg_url)
    try:
        others = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        locks = await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")
    finally:
        await conn.close()
    assert (others, locks) == (0, 0)
    # A wrong password: one clear line naming the database, never the password.
    wrong = Settings(  # type: ignore[call-arg]
        database_url=pg_url.replace(PASSWORD, "not-the-password"), _env_file=None
    )
    refused = await postgres_problem(wrong)
    assert refused is not None and "cannot use the database postgresql://aimant@" in refused
    assert "password authentication failed" in refused
    assert "not-the-password" not in refused and PASSWORD not in refused


async def _fill_other_tables(path: Path) -> None:
    """Rows, through the store, in the tables the seed leaves empty."""
    store = await Store.open(path)
    store.hook_urls = ("https://crm.example/hook",)
    user = 10_000_001
    await store.leads.touch_visitor(
        user, first_name="Zoé", last_name="O'Brien", username=None, language="fr", source="qr"
    )
    await store.leads.request_magnet(user, "what-to-wear", "qr")
    await store.leads.capture_email(
        user, "zoe@example.org", consent_version="v1", magnet_id="what-to-wear", update_id=1
    )
    await store.sessions.set(user, "answer", "what-to-wear", typed="zoé")
    await store.sessions.set_file_id("ab" * 32, "FILEID")
    await store.intake.save([(77, user, '{"update_id": 77}'), (78, user, '{"update_id": 78}')])
    await store.intake.done(77)
    await store.aside.keep(79, user, '{"update_id": 79}', "unreadable")
    await store.optin.issue_code(
        user, "zoe@example.org", "123456", magnet_id=None, language="fr", ttl_seconds=60,
        update_id=2,
    )  # fmt: skip
    [mail] = await store.optin.due_mails()
    await store.optin.claim_mail(mail)
    await store.ready.add_message(user, "contact", "Bonjour ; DROP TABLE leads;--", 3)
    await store.ready.add_relay(900001, 5, user)
    await store.owner.set_mentions(900001, 6, [user], redraw="leads:hot:0")
    await store.team.message_in(user, user, 11, [900001], update_id=4, ack_seconds=600)
    version = Version(language="fr", from_chat=900001, message_id=12, kind="text")
    broadcast = await store.broadcasts.create(900001, "Hello", ["all"], version)
    await store.broadcasts.add_link(broadcast, "Site", "https://example.org", 3)
    await store.broadcasts.start(broadcast, paid=False, segment="all")
    await store.tips.schedule(user, "what-to-wear", "colours", 1)
    await store.close()


def test_db_copy_loses_no_row(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "live.sqlite3"
    asyncio.run(create(path))
    seed(path, leads=300, events_target=3000)
    asyncio.run(_fill_other_tables(path))
    with closing(sqlite3.connect(path)) as raw:
        tables = sqlite_tables(raw)
        want = {t: raw.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
        every = {t: sorted(map(repr, raw.execute(f"SELECT * FROM {t}").fetchall())) for t in tables}
    empty = [t for t, n in want.items() if n == 0]
    assert empty == [], f"the test leaves tables empty: {empty}"

    counts = asyncio.run(copy_sqlite_to_postgres(path, pg_url))
    assert counts == want
    out = capsys.readouterr().out
    assert f"copied {sum(want.values()):,} rows in {len(want)} tables" in out

    async def check() -> None:
        store = await Store.open_postgres(pg_url)
        db: PgConnection = store._db  # type: ignore[assignment]
        try:
            for table, columns in tables.items():
                quoted = ", ".join(columns)
                rows = await db.fetch_raw(f"SELECT {quoted} FROM {table}")
                assert sorted(repr(tuple(r)) for r in rows) == every[table], table
            # Ids go on after the copied ones; the data reads back through the repositories.
            before = await db.fetch_raw("SELECT MAX(id) AS m FROM broadcasts")
            new = await store.broadcasts.create(1, "again", ["all"])
            assert new == before[0]["m"] + 1
            lead = await store.leads.get(10_000_001)
            assert lead is not None and lead.last_name == "O'Brien" and lead.subscribed
        finally:
            await store.close()

    asyncio.run(check())
    # A second copy into the now full database is refused, nothing written.
    with pytest.raises(CopyError, match="not empty"):
        asyncio.run(copy_sqlite_to_postgres(path, pg_url))


def test_db_copy_command_and_the_password_never_shown(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "small.sqlite3"
    asyncio.run(create(path))
    seed(path, leads=20, events_target=100)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_PATH", str(path))
    monkeypatch.setenv("DATABASE_URL", pg_url)
    assert main(["db", "copy"]) == 0
    out = capsys.readouterr()
    assert "leads" in out.out and "copied" in out.out
    assert main(["db", "copy"]) == 2  # not empty any more: one line, nothing copied
    again = capsys.readouterr()
    assert "nothing copied" in again.err and "not empty" in again.err
    for text in (out.out, out.err, again.out, again.err):
        assert PASSWORD not in text
    settings = Settings(database_url=pg_url, _env_file=None)  # type: ignore[call-arg]
    assert PASSWORD not in settings.database_label() and PASSWORD not in repr(settings)
    assert settings.database_password() == PASSWORD


def test_a_bad_database_url_is_refused_without_echoing_it() -> None:
    from bot.settings import SettingsError, load_settings

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", "mysql://u:hunter2@h/db")
        with pytest.raises(SettingsError) as info:
            load_settings()
    assert "DATABASE_URL" in str(info.value) and "hunter2" not in str(info.value)


def test_the_bot_as_a_process_on_postgresql_killed_mid_funnel_loses_nothing(
    tmp_path: Path, pg_url: str
) -> None:
    """`aimant` with DATABASE_URL: a second process is accepted and follows; kill -9 whichever
    process handles an update (Telegram stuck on its reply): the other one handles it (and
    leads, if it did not), nothing is applied twice; no log line holds the password."""
    fake = FakeTelegram()
    with FakeTelegramServer(fake) as server:
        first = BotProcess(server, fake, tmp_path, DATABASE_URL=pg_url)
        second = BotProcess(server, fake, tmp_path, DATABASE_URL=pg_url)
        logs = {first: tmp_path / "bot-1.log", second: tmp_path / "follower.log"}
        try:
            first.start()
            second.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"], cwd=tmp_path, env=second.env,
                stdout=logs[second].open("wb"), stderr=subprocess.STDOUT,
            )  # fmt: skip
            wait_for(lambda: "is a follower" in logs[second].read_text(), timeout=30)
            fake.message(USER, "/start instagram")
            wait_for(lambda: len(fake.sent_to(USER)) >= 1)
            fake.callback(USER, "mag:what-to-wear")
            wait_for(lambda: "email address" in fake.last_to(USER).text)
            fake.hold("sendMessage")
            email = fake.message(USER, "ada@example.com")
            assert fake.wait_until_holding(15)
            wait_for(lambda: fake.confirmed_offset > email["update_id"])
            captured = "lead captured: 4242"
            wait_for(lambda: any(captured in log.read_text() for log in logs.values()))
            victim = second if captured in logs[second].read_text() else first
            survivor = first if victim is second else second
            assert victim.proc is not None and survivor.proc is not None
            victim.proc.kill()
            victim.proc.wait(timeout=10)
            fake.release(drop=True)  # the connection died with the process: nothing delivered
            wait_for(lambda: fake.last_to(USER).text == "What kind of shoot are you planning?")
            wait_for(lambda: "is the leader" in logs[survivor].read_text(), timeout=5)
            fake.callback(USER, "ans:what-to-wear:family")
            wait_for(lambda: fake.last_to(USER).text.startswith("Enjoy the read!"))
            survivor.proc.send_signal(signal.SIGTERM)
            survivor.proc.wait(timeout=20)
        finally:
            first.kill()
            second.kill()
    assert survivor.proc.returncode == 0
    text = "".join(log.read_text() for log in logs.values())
    assert PASSWORD not in text and TOKEN.split(":")[1] not in text  # LOG_LEVEL=DEBUG
    assert "Traceback" not in text
    pending = "SELECT COUNT(*) FROM inbox WHERE done_at IS NULL"
    assert raw_db.value(pg_url, "SELECT COUNT(*) FROM leads WHERE email = 'ada@example.com'") == 1
    for kind in ("start", "lead", "answer", "download"):
        sql = f"SELECT COUNT(*) FROM events WHERE kind = '{kind}'"
        assert raw_db.value(pg_url, sql) == 1, kind
    assert raw_db.value(pg_url, pending) == 0
    assert sum(1 for s in fake.sent_to(USER) if s.document) == 1
    assert not fake.violations
