"""The test harness: the real Application and store against the fake Bot API, in process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.app import App, build_application, close_services, open_services, stop_services
from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.services import Ctx, Services
from bot.settings import Settings
from bot.store import Store
from tests.fakeapi import FakeRequest, FakeTelegram
from tests.fakeapi.core import Sent
from tests.pgbouncer import BOUNCER_KEEPALIVE, PgBouncer
from tests.pgbouncer import missing as pgbouncer_missing
from tests.pgserver import PgServer, missing


@pytest.fixture(autouse=True)
def _replies_wait_for_no_chat_turn(request: pytest.FixtureRequest, monkeypatch: Any) -> None:
    """In process, the fake enforces no per-chat limit unless a test makes it strict, so the
    bot's per-chat pacing (bot/telegram/replies.py) would only make the suite sleep (about 3 s a
    test): off here, on for tests marked chat_pacing and in every test of the bot as a process."""
    if request.node.get_closest_marker("chat_pacing") is None:
        from bot.telegram import replies

        monkeypatch.setattr(replies, "CHAT_MAX_WAIT", 0.0)


ROOT = Path(__file__).resolve().parents[1]
OWNER = 900001


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """A chat with the bot, seen from the user's side."""

    def __init__(
        self, fake: FakeTelegram, app: App, svc: Services, clock: Clock, request: FakeRequest
    ) -> None:
        self.fake, self.app, self.svc, self.clock = fake, app, svc, clock
        self.request = request  # for faults on the bot's side of the wire (timeouts, resets)
        self.errors: list[BaseException] = []

    async def send(self, update: dict[str, Any]) -> None:
        """Run one update through the intake processor and the handlers, as polling would."""
        parsed = Update.de_json(update, self.app.bot)
        await self.app.update_processor.process_update(parsed, self.app.process_update(parsed))
        await self.relays()

    async def relays(self) -> None:
        """Let the team inbox's sender copy what is due (it runs in the background)."""
        if self.svc.running and self.svc.running.inbox:
            await self.svc.running.inbox.drain()

    async def text(self, user: int, text: str, **user_fields: Any) -> None:
        """The user types a message (or a command)."""
        await self.send(self.fake.build_message(user, text, **user_fields))

    async def tap(self, user: int, data: str, *, message_id: int | None = None) -> None:
        """The user's client sends this callback data (stale and forged data included)."""
        await self.send(self.fake.build_callback(user, data, message_id=message_id, check=False))

    async def tap_label(self, user: int, label: str) -> None:
        """The user presses the button with this label on the latest message that has it."""
        for sent in reversed(self.fake.sent_to(user)):
            for row in sent.buttons:
                for text, data in row:
                    if text == label:
                        await self.tap(user, data, message_id=sent.message_id)
                        return
        raise AssertionError(f"no button {label!r} in the chat with {user}")

    def chat(self, user: int) -> list[Sent]:
        """What the bot sent to this user, in order."""
        return self.fake.sent_to(user)

    def texts(self, user: int) -> list[str]:
        """The texts (and captions) the user saw."""
        return [s.text for s in self.fake.sent_to(user)]

    def last(self, user: int) -> Sent:
        """The latest message the user saw."""
        return self.fake.sent_to(user)[-1]

    def t(self, key: str, lang: str = "en", **values: str) -> str:
        """A text as the bot would send it (for comparisons)."""
        return self.svc.texts.get(lang, key, **values)


def member_change(update_id: int, user: int, chat: dict[str, Any], status: str) -> dict[str, Any]:
    """A my_chat_member update: `user` changed the bot's status in `chat` (kicked = blocked)."""
    bot_user = {"id": 5000000001, "is_bot": True, "first_name": "Aimant"}
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": chat,
            "from": {"id": user, "is_bot": False, "first_name": "Ada"},
            "date": 1,
            "old_chat_member": {"status": "member", "user": bot_user},
            "new_chat_member": {"status": status, "until_date": 0, "user": bot_user},
        },
    }


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "bot_token": "123456:TEST-token_for_the_fake_api",
        "owner_ids": [OWNER],
        "database_path": tmp_path / "aimant.sqlite3",
        "catalogue_path": ROOT / "magnets" / "catalogue.toml",
        "texts_dir": ROOT / "magnets" / "texts",
        "bot_api_url": "http://fake.invalid/bot",
        "_env_file": None,
    }
    values.update(overrides)
    return Settings(**values)


async def start_harness(settings: Settings, fake: FakeTelegram, clock: Clock) -> Harness:
    """Build, initialise and open the bot like `run_polling` would, minus the polling."""
    svc = Services(
        settings,
        load_catalogue(settings.catalogue_path),
        load_texts(settings.texts_dir, settings.default_language),
        clock=clock,
    )
    for owner in settings.owner_ids:  # owners have opened a chat with their bot
        fake.add_user(owner, first_name="Owner")
    request = FakeRequest(fake)
    app = build_application(svc, request=request, updates_request=FakeRequest(fake))
    harness = Harness(fake, app, svc, clock, request)

    async def record(update: object, context: Ctx) -> None:
        assert context.error is not None
        harness.errors.append(context.error)

    app.add_error_handler(record)
    await app.initialize()
    await open_services(app)
    return harness


async def stop_harness(harness: Harness) -> None:
    await stop_services(harness.app)
    await close_services(harness.app)
    await harness.app.shutdown()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeTelegram:
    return FakeTelegram(clock=clock)


def _backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The store's settings: SQLite, or each backend in a module marked
    `pytestmark = pytest.mark.usefixtures("backend")` (its tests run on both)."""
    if "backend" in request.fixturenames:
        overrides: dict[str, Any] = request.getfixturevalue("backend")
        return overrides
    return {}


@pytest.fixture
async def bot(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram, clock: Clock
) -> AsyncIterator[Harness]:
    """The bot with the shipped content; fails the test on any handler error or bad API call."""
    harness = await start_harness(make_settings(tmp_path, **_backend(request)), fake, clock)
    yield harness
    await stop_harness(harness)
    assert not harness.errors, f"handler errors: {harness.errors!r}"
    assert not fake.violations, f"calls Telegram would reject: {fake.violations}"


@pytest.fixture
async def bot_with(
    request: pytest.FixtureRequest, tmp_path: Path, fake: FakeTelegram, clock: Clock
) -> AsyncIterator[Callable[..., Awaitable[Harness]]]:
    """A factory for a bot with other settings (content, sending hours...)."""
    started: list[Harness] = []
    store = _backend(request)

    async def make(**overrides: Any) -> Harness:
        settings = make_settings(tmp_path, **{**store, **overrides})
        harness = await start_harness(settings, fake, clock)
        started.append(harness)
        return harness

    yield make
    for harness in started:
        await stop_harness(harness)
        assert not harness.errors, f"handler errors: {harness.errors!r}"
    assert not fake.violations, f"calls Telegram would reject: {fake.violations}"


# --- PostgreSQL: one throwaway server for the session, a fresh database per test -----------

BACKENDS = ["sqlite", "postgresql"]


def unavailable(why: str | None) -> None:
    """Skip the test if `why` (a tool it needs is missing); fail instead with
    AIMANT_REQUIRE_PG=1 (CI)."""
    if why is None:
        return
    if os.environ.get("AIMANT_REQUIRE_PG") == "1":
        pytest.fail(f"AIMANT_REQUIRE_PG=1 but {why}", pytrace=False)
    pytest.skip(why)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """A PostgreSQL 15 server of the tests' own, stopped at the end of the session.

    Without PostgreSQL the tests that need it skip, saying why; with AIMANT_REQUIRE_PG=1 (CI)
    they fail instead: CI never passes without having run them.
    """
    unavailable(missing())
    server = PgServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """The URL of a new empty database, dropped after the test."""
    with pg_server.fresh_database() as name:
        yield pg_server.url(name)


@pytest.fixture(scope="session")
def pgbouncer(pg_server: PgServer) -> Iterator[PgBouncer]:
    """PgBouncer in session mode in front of the tests' server, with the client-side TCP
    keepalives the README suggests; missing, it skips or fails as PostgreSQL does."""
    unavailable(pgbouncer_missing())
    with PgBouncer(pg_server, **BOUNCER_KEEPALIVE) as bouncer:
        yield bouncer


@pytest.fixture
def pgb_url(pg_server: PgServer, pgbouncer: PgBouncer) -> Iterator[str]:
    """The URL of a new empty database through PgBouncer, dropped after the test."""
    with pg_server.fresh_database() as name:
        yield pgbouncer.url(name)


# Modules whose every test also runs on PostgreSQL (the store's own, the KPIs', the unknowns').
PG_MODULES = frozenset({"test_store.py", "test_stats.py", "test_unknowns.py"})
# The handler tests that always run on PostgreSQL too: a representative handful (the funnel,
# replays, the inbox and the team KPIs, broadcasts with two owners, tips, webhooks, opt-in,
# the stats reader, a double tap). The others' PostgreSQL twins run with AIMANT_PG_FULL=1.
PG_HANDFUL = frozenset(
    {
        "test_funnel.py::test_whole_funnel_in_english",
        "test_funnel.py::test_forget_erases_after_confirmation",
        "test_intake.py::test_an_update_delivered_twice_is_applied_once",
        "test_intake.py::test_unfinished_updates_are_replayed_then_done",
        "test_inbox.py::test_question_photo_and_voice_reach_every_owner_in_order",
        "test_inbox.py::test_team_kpis_follow_their_definitions",
        "test_broadcast.py::test_whole_broadcast_flow",
        "test_broadcast.py::test_two_owners_confirming_the_same_broadcast",
        "test_nurture.py::test_tips_arrive_in_order_once_each",
        "test_crm_webhooks.py::test_a_whole_journey_arrives_in_order_signed",
        "test_optin.py::test_code_from_the_mail_unlocks_the_pdf",
        "test_ready.py::test_cta_button_flags_hot_and_alerts_owners",
        "test_console.py::test_export_has_one_row_per_person_and_matches_stats",
        "test_trust.py::test_the_stats_reader_leaves_owners_out_and_sees_every_write",
        "test_bad_input.py::test_double_tap_on_an_answer_counts_once",
    }
)

# The bot as a process (`python -m bot`, tests/test_e2e_kill.py's BotProcess): each test there
# that takes `backend` hands it to the process (DATABASE_URL), so its PostgreSQL twin always
# runs (issue 17: the end-to-end tests on both backends), AIMANT_PG_FULL or not.
PROCESS_MODULES = frozenset(
    {
        "test_e2e_broadcast.py",
        "test_e2e_crash_day.py",
        "test_e2e_inbox.py",
        "test_e2e_kill.py",
        "test_e2e_nurture.py",
        "test_e2e_outboxes.py",
        "test_faults.py",
    }
)


def _pg_twin_kept(item: pytest.Function) -> bool:
    """Whether a test's PostgreSQL twin runs: the bot as a process on the test's backend, or
    it opens a store in process, and it is the store's, the KPIs' or one of the handful (all
    of them with AIMANT_PG_FULL=1)."""
    if item.path.name in PROCESS_MODULES:
        return True
    if not {"bot", "bot_with", "store", "pg_url"} & set(item.fixturenames) and (
        "open_backend_store" not in item.function.__code__.co_names
    ):
        return False  # a rule, or a bot run as a process on its SQLite file: nothing to test
    if os.environ.get("AIMANT_PG_FULL") == "1":
        return True
    module = item.path.name
    return module in PG_MODULES or f"{module}::{item.originalname}" in PG_HANDFUL


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In a module run on both backends, which PostgreSQL twins run (see _pg_twin_kept)."""
    idle = [
        item
        for item in items
        if isinstance(item, pytest.Function)
        and "[postgresql" in item.nodeid
        and not _pg_twin_kept(item)
    ]
    if idle:
        config.hook.pytest_deselected(items=idle)
        items[:] = [item for item in items if item not in idle]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings overrides for each store backend: SQLite (none), then PostgreSQL."""
    if request.param == "sqlite":
        return {}
    return {"database_url": request.getfixturevalue("pg_url")}


async def open_backend_store(tmp_path: Path, backend: dict[str, Any]) -> Store:
    """A store on the backend of the test: the SQLite file, or its PostgreSQL database."""
    if backend.get("database_url"):
        return await Store.open_postgres(backend["database_url"])
    return await Store.open(tmp_path / "store.sqlite3")
