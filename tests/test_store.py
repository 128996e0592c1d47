"""The store: migrations, leads, events written once, erasure, the inbox."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.broadcast.draft import Version
from bot.funnel.rules import Stage
from bot.store import Event, Store
from bot.store.migrations import MIGRATIONS


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The store on each backend: the SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        store = await Store.open(tmp_path / "db" / "aimant.sqlite3", Clock())
    else:
        store = await Store.open_postgres(request.getfixturevalue("pg_url"), Clock())
    yield store  # type: ignore[misc]
    await store.close()


async def visitor(store: Store, user_id: int = 1, source: str | None = "flyer") -> None:
    await store.leads.touch_visitor(
        user_id, first_name="Ada", last_name="L", username="ada", language="en", source=source
    )


async def test_new_file_is_migrated_with_wal(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Opening again applies nothing and keeps the data.
    store = await Store.open(path)
    assert await store.schema_version() == len(MIGRATIONS)
    await store.close()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "future.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version={len(MIGRATIONS) + 1}")
    with pytest.raises(RuntimeError, match="newer"):
        await Store.open(path)


async def test_first_source_is_kept_and_start_logged_once(store: Store) -> None:
    await visitor(store, source="instagram")
    await visitor(store, source="flyer")
    lead = await store.leads.get(1)
    assert lead is not None and lead.first_source == "instagram"
    assert lead.stage is Stage.VISITOR
    assert await store.count_events(Event.START) == 1


async def test_capture_delivery_and_stage(store: Store) -> None:
    await visitor(store)
    await store.leads.request_magnet(1, "m1", "flyer")
    assert await store.leads.capture_email(
        1, "ada@example.com", consent_version="v1", magnet_id="m1"
    )
    assert not await store.leads.capture_email(
        1, "ada@example.com", consent_version="v1", magnet_id="m1"
    )
    assert await store.leads.save_answer(1, "m1", "yes", True, None)
    assert not await store.leads.save_answer(1, "m1", "no", False, None)
    assert await store.leads.mark_delivered(1, "m1", None)
    assert not await store.leads.mark_delivered(1, "m1", None)
    lead = await store.leads.get(1)
    assert lead is not None
    assert (lead.email, lead.consent_version, lead.subscribed) == ("ada@example.com", "v1", True)
    assert lead.stage is Stage.LEAD
    assert await store.count_events(Event.LEAD) == 1
    assert await store.count_events(Event.DOWNLOAD, value="first") == 1
    assert await store.count_events(Event.DOWNLOAD, value="again") == 1
    [item] = await store.leads.lead_magnets(1)
    assert (item.answer_id, item.answer_fit) == ("yes", True)


async def test_events_of_a_replayed_update_are_not_logged_twice(store: Store) -> None:
    await visitor(store)
    await store.leads.request_magnet(1, "m1", None)
    await store.leads.capture_email(
        1, "a@example.com", consent_version="v", magnet_id="m1", update_id=7
    )
    assert await store.leads.save_answer(1, "m1", "a1", True, update_id=10)
    assert await store.leads.save_answer(1, "m1", "a1", True, update_id=10)  # handled again
    assert not await store.leads.save_answer(1, "m1", "a1", True, update_id=11)  # a double tap
    assert await store.count_events(Event.ANSWER) == 1
    assert await store.leads.mark_delivered(1, "m1", update_id=8)
    # The same update handled again: still its first delivery (what follows is sent), once.
    assert await store.leads.mark_delivered(1, "m1", update_id=8)
    assert await store.count_events(Event.DOWNLOAD) == 1
    assert not await store.leads.mark_delivered(1, "m1", update_id=9)


async def test_unsubscribe_and_resubscribe(store: Store) -> None:
    await visitor(store)
    await store.leads.capture_email(1, "a@example.com", consent_version="v", magnet_id=None)
    assert await store.leads.unsubscribe(1, None)
    assert not await store.leads.unsubscribe(1, None)
    lead = await store.leads.get(1)
    assert lead is not None and lead.stage is Stage.GONE and not lead.subscribed
    await store.leads.resubscribe(1, consent_version="v2", update_id=None)
    lead = await store.leads.get(1)
    assert lead is not None and lead.subscribed and lead.consent_version == "v2"
    assert await store.count_events(Event.RESUBSCRIBE) == 1


async def test_erase_keeps_anonymous_events_and_no_personal_bytes(tmp_path: Path) -> None:
    path = tmp_path / "erase.sqlite3"
    store = await Store.open(path, Clock())
    await store.leads.touch_visitor(
        424242, first_name="Zebulon", last_name="Quixote", username="zqx_handle", language="fr"
    )
    await store.leads.request_magnet(424242, "m1", None)
    await store.leads.capture_email(
        424242, "zebulon@example.org", consent_version="v", magnet_id="m1"
    )
    await store.sessions.set(424242, "email", "m1", typed="zebulon@exampel.org")
    await store.intake.save([(99, 424242, '{"message": {"text": "zebulon@example.org"}}')])
    await store.leads.mark_delivered(424242, "m1", None)
    assert await store.leads.erase(424242)
    assert await store.leads.get(424242) is None
    assert await store.count_events(Event.LEAD) == 1  # past counts do not change
    assert await store.count_events(Event.ERASE) == 1
    assert await store.count_events(Event.LEAD, person=424242) == 0
    assert not await store.leads.erase(424242)
    await store.close()
    with sqlite3.connect(path) as raw:
        raw.execute("VACUUM")
    data = b"".join(p.read_bytes() for p in tmp_path.glob("erase.sqlite3*"))
    for secret in (b"Zebulon", b"Quixote", b"zqx_handle", b"zebulon@example.org", b"exampel"):
        assert secret not in data


async def test_inbox_pending_done_and_skip(store: Store) -> None:
    await store.intake.save([(1, 10, '{"update_id": 1}'), (2, 11, '{"update_id": 2}')])
    await store.intake.save([(1, 10, '{"update_id": 1}')])  # fetched again: kept once
    assert await store.intake.pending() == ['{"update_id": 1}', '{"update_id": 2}']
    await store.intake.done(1)
    assert await store.intake.is_done(1)
    assert not await store.intake.is_done(2)
    assert await store.intake.pending() == ['{"update_id": 2}']


async def test_sessions_survive_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = await Store.open(path)
    await store.sessions.set(5, "email", "m1", typed="x")
    await store.close()
    store = await Store.open(path)
    session = await store.sessions.get(5)
    assert session is not None and (session.step, session.magnet_id, session.data) == (
        "email",
        "m1",
        {"typed": "x"},
    )
    assert await store.sessions.clear(5)
    assert not await store.sessions.clear(5)
    await store.close()


async def test_sql_metacharacters_are_stored_verbatim(store: Store) -> None:
    name = "Robert'); DROP TABLE leads;--"
    await store.leads.touch_visitor(
        3, first_name=name, last_name=None, username=None, language="en"
    )
    lead = await store.leads.get(3)
    assert lead is not None and lead.first_name == name


async def test_blocked_and_unblocked(store: Store) -> None:
    await visitor(store)
    assert await store.leads.mark_blocked(1)
    assert not await store.leads.mark_blocked(1)
    lead = await store.leads.get(1)
    assert lead is not None and lead.stage is Stage.GONE and lead.blocked_at is not None
    assert await store.leads.mark_blocked(1, blocked=False)
    lead = await store.leads.get(1)
    assert lead is not None and lead.stage is Stage.VISITOR


async def test_version_1_file_is_migrated_forward_keeping_its_data(tmp_path: Path) -> None:
    path = tmp_path / "v1.sqlite3"
    with sqlite3.connect(path) as raw:
        raw.executescript(MIGRATIONS[0])
        raw.execute(
            "INSERT INTO leads (user_id, language, email, stage, started_at, updated_at)"
            " VALUES (7, 'fr', 'old@example.com', 'lead', 1, 1)"
        )
        raw.execute("PRAGMA user_version=1")
    store = await Store.open(path, Clock())
    assert await store.schema_version() == len(MIGRATIONS) >= 2
    lead = await store.leads.get(7)
    assert lead is not None and lead.email == "old@example.com" and lead.hot_at is None
    assert await store.tips.schedule(7, "m1", "t1", 100)
    await store.close()


async def test_a_drafts_first_message_and_a_link_count_once_when_handled_again(
    store: Store,
) -> None:
    first = Version("en", 900001, 41, "text")
    made = await store.broadcasts.create(900001, "Spring sale", ["all"], first)
    assert await store.broadcasts.create(900001, "Spring sale", ["all"], first) == made
    other = await store.broadcasts.create(
        900001, "Other", ["all"], Version("en", 900001, 42, "text")
    )
    assert other != made
    for _ in range(2):
        assert await store.broadcasts.add_link(made, "Book", "https://example.com/b", limit=3)
    assert await store.broadcasts.add_link(made, "Shop", "https://example.com/s", limit=3)
    draft = await store.broadcasts.get(made)
    assert draft is not None
    assert draft.links == [("Book", "https://example.com/b"), ("Shop", "https://example.com/s")]
