"""/forget on both backends: after the erasure no live row of any table keeps the person's id,
email, names or what they wrote; on PostgreSQL the touched tables are vacuumed (no dead row
version left), and what stays is what the README says stays, the same as SQLite's."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.broadcast.draft import Version
from bot.store import Store
from bot.store.core import ERASED_TABLES, Event
from bot.store.pg import PgConnection
from tests.conftest import open_backend_store

PERSON = 918_273_645_501  # distinctive: no timestamp or other id contains it
OTHER = 555_000_111
EMAIL = "zephyrine.quill@example.org"
FIRST, LAST, USERNAME = "Zéphyrine", "Quillfeather", "zqf_unique_handle"
GOAL = "my secret goal: 7f3a-orchid-greenhouse"
CONTACT = "please call me about the 9c1e-lavender offer"
URL = "https://crm.example/hook"
OWNER = 4242
STRINGS = (EMAIL, FIRST, LAST, USERNAME, GOAL, CONTACT)
# Each as it is, as JSON writes it (`Z\u00e9phyrine` in a raw update), and the id as text.
NEEDLES = (*STRINGS, *(json.dumps(n)[1:-1] for n in STRINGS), str(PERSON))
# The other person (kept as they are) has the erased one's strings reversed.
THEIRS = {n: n[::-1] for n in STRINGS}


# Ids without "postgresql": conftest keeps a PostgreSQL twin only for the store's modules.
@pytest.fixture(params=["sqlite", "pg"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    """The store on each backend."""
    backend = (
        {} if request.param == "sqlite" else {"database_url": request.getfixturevalue("pg_url")}
    )
    opened = await open_backend_store(tmp_path, backend)
    await opened.set_owners([OWNER])
    opened.hook_urls = (URL,)
    try:
        yield opened
    finally:
        await opened.close()


async def _everything(store: Store, user: int, update: int) -> None:
    """A person with something in every table the bot writes about people (PERSON's strings,
    or THEIRS for anyone else)."""
    s = store
    mine = {n: n if user == PERSON else THEIRS[n] for n in THEIRS}
    email, first, last, username, goal, contact = mine.values()
    await s.leads.touch_visitor(user, first_name=first, last_name=last, username=username,
                                language="fr", source="flyer", update_id=update)  # fmt: skip
    await s.leads.request_magnet(user, "m1", "flyer")
    await s.sessions.set(user, "email", "m1", typed=email)
    await s.leads.capture_email(user, email, consent_version="v1", magnet_id="m1",
                                update_id=update + 1)  # fmt: skip
    await s.leads.save_answer(user, "m1", "yes", True, update + 2)
    await s.leads.mark_delivered(user, "m1", update + 3, then=("t1", 0))
    [tip] = [t for t in await s.tips.due(s.now() + 1, 10) if t.user_id == user]
    assert await s.tips.claim(tip)
    await s.tips.sent(tip, 321, ("t2", s.now() + 86400))
    assert await s.tips.record_click(user, "m1", "t1", update + 4)
    await s.ready.mark_hot(user, Event.PLAN, "plan", update + 5)
    await s.ready.add_message(user, "plan", goal, update + 5)
    await s.ready.mark_hot(user, Event.CONTACT, "contact", update + 6)
    await s.ready.add_message(user, "contact", contact, update + 6)
    await s.ready.mark_owner_status(user, Event.WON, update + 7)
    await s.ready.add_relay(OWNER, 900 + user % 100, user)
    await s.owner.set_mentions(OWNER, 901 + user % 100, [user])
    await s.optin.issue_code(user, email, "123456", magnet_id="m1", language="fr",
                             ttl_seconds=600, update_id=update + 8)  # fmt: skip
    [mail] = [m for m in await s.optin.due_mails() if m.user_id == user]
    await s.optin.claim_mail(mail)
    payload = json.dumps({"message": {"from": {"id": user, "first_name": first}, "text": goal}})
    await s.intake.save([(update + 9, user, payload), (update + 10, user, payload)])
    await s.intake.done(update + 9)
    await s.aside.keep(update + 11, user, payload, "unreadable")
    assert await s.team.message_in(user, user, 77, [-100123], update + 12, 60)
    assert await s.team.answer(user, -100123, 78, update + 13)
    await s.team.set_topic(user, -100123, 5)
    draft = await s.broadcasts.create(OWNER, "news", ["all"], Version("", OWNER, 1, "text"))
    await s.broadcasts.start(draft, paid=False, segment="all")
    assert await s.broadcasts.claim_recipient(draft, user)
    await s.broadcasts.recipient_done(draft, user, "sent")
    await s.broadcasts.stop_click(user, draft, update + 14)


async def _live_rows(store: Store) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table of the database, by table."""
    if store.url is not None:
        pg: PgConnection = store._db  # type: ignore[assignment]
        names = [r[0] for r in await pg.fetch_raw(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            " AND table_type = 'BASE TABLE'")]  # fmt: skip
        return {t: [dict(r) for r in await pg.fetch_raw(f"SELECT * FROM {t}")] for t in names}
    tables = await store._all("SELECT name FROM sqlite_master WHERE type = 'table'")
    return {
        r[0]: [dict(x) for x in await store._all(f"SELECT * FROM {r[0]}")]
        for r in tables
        if not r[0].startswith("sqlite_")
    }


def _holding(rows: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, Any]]:
    """(table, column, value) of every value that holds something of the person."""
    found = []
    for table, table_rows in rows.items():
        for row in table_rows:
            for column, value in row.items():
                if value == PERSON or any(n in str(value) for n in NEEDLES):
                    found.append((table, column, row))
    return found


async def test_forget_leaves_no_live_row_about_the_person(store: Store) -> None:
    await _everything(store, PERSON, 10_000)
    await _everything(store, OTHER, 20_000)  # someone else, kept as they are
    before = _holding(await _live_rows(store))
    assert {t for t, _, _ in before} >= {
        "leads", "lead_magnets", "events", "sessions", "tips", "messages", "relays",
        "mentions", "optin_codes", "mails", "inbox", "unreadable_updates", "hooks",
        "team_relays", "conversations", "broadcast_recipients",
    }  # fmt: skip
    assert await store.leads.erase(PERSON)
    left = _holding(await _live_rows(store))
    # Only the erase event waiting for the CRM: {"id": ...} and its key, nothing personal,
    # until it is delivered (README, "Webhooks to other tools", Erasure).
    assert {(t, c) for t, c, _ in left} <= {("hooks", "lead_key"), ("hooks", "body")}, left
    assert all(row["type"] == "lead.erased" for _, _, row in left)
    [hook] = [h for h in await store.hooks.due(URL, 100) if h.type == "lead.erased"]
    assert json.loads(hook.body)["lead"] == {"id": PERSON}
    await store.hooks.sent(hook)
    rows = await _live_rows(store)
    assert _holding(rows) == []
    # What stays, as on SQLite: handled update ids (no person, no content), the events under
    # an anonymous number, the daily mail counts as hashes; the other person untouched.
    assert await store.count_events(Event.ERASE) == 1
    assert await store.count_events(Event.PLAN, OTHER) == 1
    assert {r["update_id"] for r in rows["inbox"] if r["user_id"] is None} >= {10_009}
    assert len([r for r in rows["mail_quota"]]) == 4
    lead = await store.leads.get(OTHER)
    assert lead is not None and lead.email == THEIRS[EMAIL]


async def test_forget_on_postgresql_vacuums_what_it_touched(pg_url: str) -> None:
    store = await Store.open_postgres(pg_url)
    try:
        store.hook_urls = (URL,)
        await _everything(store, PERSON, 10_000)
        await _everything(store, OTHER, 20_000)
        pg: PgConnection = store._db  # type: ignore[assignment]
        await pg.execute_raw("CREATE EXTENSION IF NOT EXISTS pgstattuple")
        await store.leads.erase(PERSON)
        # Every version the erasure left dead was removed by its VACUUM (none is still
        # visible to anyone, so no autovacuum is needed to get there).
        for table in ERASED_TABLES:
            [row] = await pg.fetch_raw(f"SELECT dead_tuple_count FROM pgstattuple('{table}')")
            assert row[0] == 0, table
    finally:
        await store.close()


async def _pages_holding(pg: PgConnection, needles: tuple[bytes, ...]) -> list[tuple[str, int]]:
    """(relation, page) of every page of every table, index and TOAST table of the database
    whose raw bytes contain one of `needles` (live, dead or in free space)."""
    await pg.execute_raw("CHECKPOINT")  # every page as it is now, read through the buffers
    relations = await pg.fetch_raw(
        "SELECT c.oid::regclass::text, pg_relation_size(c.oid) / 8192 FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname IN ('public', 'pg_toast')"
        " AND c.relkind IN ('r', 'i', 't') AND c.relpersistence = 'p'"
    )
    found = []
    for name, pages in relations:
        for page in range(int(pages)):
            [raw] = await pg.fetch_raw("SELECT get_raw_page($1, $2::int)", name, page)
            if any(n in bytes(raw[0]) for n in needles):
                found.append((name, page))
    return found


async def test_vacuum_full_leaves_no_byte_of_the_person_in_any_page(pg_url: str) -> None:
    """VACUUM leaves a deleted row's bytes in the page's free space until new rows overwrite
    them (measured, README); VACUUM FULL, which the README offers, rewrites the tables."""
    store = await Store.open_postgres(pg_url)
    try:
        await _everything(store, PERSON, 10_000)
        await _everything(store, OTHER, 20_000)
        pg: PgConnection = store._db  # type: ignore[assignment]
        await pg.execute_raw("CREATE EXTENSION IF NOT EXISTS pageinspect")
        needles = (EMAIL.encode(), GOAL.encode(), CONTACT.encode(), USERNAME.encode())
        assert await _pages_holding(pg, needles)  # the scan sees them while they are there
        await store.leads.erase(PERSON)
        await pg.execute_raw(f"VACUUM FULL {', '.join(ERASED_TABLES)}")
        assert await _pages_holding(pg, needles) == []
        lead = await store.leads.get(OTHER)
        assert lead is not None and lead.username == THEIRS[USERNAME]
    finally:
        await store.close()


async def test_every_table_about_people_is_vacuumed_after_an_erasure(pg_url: str) -> None:
    """A table added later with a person's id in it joins ERASED_TABLES (or this fails)."""
    store = await Store.open_postgres(pg_url)
    try:
        pg: PgConnection = store._db  # type: ignore[assignment]
        rows = await pg.fetch_raw(
            "SELECT DISTINCT table_name FROM information_schema.columns WHERE table_schema ="
            " 'public' AND column_name IN ('user_id', 'person', 'lead_key')"
        )
        assert {r[0] for r in rows} == set(ERASED_TABLES)
    finally:
        await store.close()
