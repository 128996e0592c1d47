"""PostgreSQL, several processes: every claim and every read-then-write of the store holds when
two stores (two connections, as two processes have) race it, many times over.

Each race is `asyncio.gather` of the same call on store A and store B: A's and B's statements
interleave on the server like two processes' (READ COMMITTED). Queue items are claimed exactly
once; once-per-person events are logged once; counters never overshoot; a failed statement or a
deadlock leaves no half-applied transaction and both connections usable.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from bot.store import Store
from bot.store.core import Event
from bot.store.migrations import MIGRATIONS
from bot.store.optin import Verdict
from bot.store.team import Relay
from bot.store.tips import DueTip
from tests import db as raw_db

PEOPLE = 60  # people (or items) raced in each test: every interleaving has its chance
MAGNET = "m1"


@pytest.fixture
async def pair(pg_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one PostgreSQL database: two processes."""
    a = await Store.open_postgres(pg_url)
    b = await Store.open_postgres(pg_url)
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def _leads(store: Store, count: int, first: int = 1000) -> list[int]:
    """`count` people with an email and the magnet delivered."""
    ids = list(range(first, first + count))
    for user in ids:
        await store.leads.touch_visitor(
            user, first_name=f"P{user}", last_name=None, username=None, language="en"
        )
        await store.leads.request_magnet(user, MAGNET, "flyer")
        await store.leads.capture_email(user, f"p{user}@example.com", consent_version="v1",
                                        magnet_id=MAGNET)  # fmt: skip
        await store.leads.mark_delivered(user, MAGNET, None)
    return ids


async def _due_tips(store: Store, ids: list[int], tip: str = "t1") -> list[DueTip]:
    for user in ids:
        assert await store.tips.schedule(user, MAGNET, tip, 0)
    due = await store.tips.due(store.now() + 1, len(ids) * 2)
    assert len(due) == len(ids)
    return due


async def test_each_tip_is_claimed_by_one_process_only(pair: tuple[Store, Store]) -> None:
    a, b = pair
    due = await _due_tips(a, await _leads(a, PEOPLE))
    won = await asyncio.gather(*(s.tips.claim(t) for t in due for s in (a, b)))
    assert sum(won) == len(due)
    assert all(x != y for x, y in zip(won[::2], won[1::2], strict=True))  # one of each pair
    assert (await a.tips.counts()).get("sending") == len(due)
    [(attempts,)] = raw_db.rows(a, "SELECT MAX(attempts) FROM tips")
    assert attempts == 1


async def test_each_broadcast_recipient_is_claimed_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    ids = await _leads(a, PEOPLE)
    draft = await a.broadcasts.create(1, "news", ["all"])
    assert await a.broadcasts.start(draft, paid=False, segment="all") == len(ids)
    for _ in range(2):  # a second round: put back for a retry, raced again
        attempts = await asyncio.gather(
            *(s.broadcasts.claim_recipient(draft, u) for u in ids for s in (a, b))
        )
        assert sorted(n for n in attempts if n) == [attempts[0] or attempts[1]] * len(ids)
        assert all(bool(x) != bool(y) for x, y in zip(attempts[::2], attempts[1::2], strict=True))
        for user in ids:
            await a.broadcasts.recipient_done(draft, user, "failed", retry_at=0)
    assert (await a.broadcasts.progress(draft))["pending"] == len(ids)


async def test_two_processes_starting_one_broadcast_start_it_once(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    ids = await _leads(a, 20)
    for _ in range(10):
        draft = await a.broadcasts.create(1, "news", ["all"])
        started = await asyncio.gather(
            a.broadcasts.start(draft, paid=False, segment="all"),
            b.broadcasts.start(draft, paid=False, segment="all"),
        )  # no UniqueViolation: the second waits for the first, then finds it sending
        assert sorted(started, key=lambda n: n is None) == [len(ids), None]
        again = await asyncio.gather(
            a.broadcasts.resend_draft(draft, 1), b.broadcasts.resend_draft(draft, 2)
        )
        assert again[0][0] == again[1][0]  # one draft, whoever tapped
        [(drafts,)] = raw_db.rows(
            a, "SELECT COUNT(*) FROM broadcasts WHERE segment = ?", (f"unknown:{draft}",)
        )
        assert drafts == 1


async def test_once_per_person_events_are_logged_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    ids = list(range(2000, 2000 + PEOPLE))
    for user in ids:
        await a.leads.touch_visitor(
            user, first_name="P", last_name=None, username=None, language="en"
        )
    # The first email (LEAD), from two processes at once (two different updates).
    firsts = await asyncio.gather(
        *(
            s.leads.capture_email(
                user,
                f"x{user}@example.com",
                consent_version="v1",
                magnet_id=MAGNET,
                update_id=user * 10 + n,
            )
            for user in ids
            for n, s in enumerate((a, b))
        )
    )
    assert sum(firsts) == len(ids)
    # A plan request (PLAN once per person) and won (WON once) from both at once.
    plans = await asyncio.gather(
        *(
            s.ready.mark_hot(user, Event.PLAN, "plan", user * 10 + 5 + n)
            for user in ids
            for n, s in enumerate((a, b))
        )
    )
    assert sum(plans) == len(ids)
    won = await asyncio.gather(
        *(
            s.ready.mark_owner_status(user, Event.WON, user * 10 + 7 + n)
            for user in ids
            for n, s in enumerate((a, b))
        )
    )
    assert sum(won) == len(ids)
    for kind in (Event.LEAD, Event.PLAN, Event.WON, Event.START):
        assert await a.count_events(kind) == len(ids), kind
    stages = {r[0] for r in raw_db.rows(a, "SELECT DISTINCT stage FROM leads")}
    assert stages == {"customer"}  # every stage computed after the last write


async def test_a_code_is_verified_once_and_wrong_codes_never_pass_the_limit(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    ids = await _leads(a, PEOPLE // 2)
    limit = 3
    for user in ids:
        assert await a.optin.issue_code(user, f"p{user}@example.com", "123456", magnet_id=MAGNET,
                                        language="en", ttl_seconds=600, update_id=None)  # fmt: skip
    # Eight wrong codes per person, four from each process: three counted, then locked.
    verdicts = await asyncio.gather(
        *(s.optin.check_code(user, "000000", limit) for user in ids for s in (a, b) * 4)
    )
    per_person = [verdicts[i * 8 : (i + 1) * 8] for i in range(len(ids))]
    for person in per_person:
        wrong = [v for v, _ in person if v is Verdict.WRONG]
        assert len(wrong) == limit - 1, person  # the third wrong one already says LOCKED
    [(attempts,)] = raw_db.rows(a, "SELECT MAX(attempts) FROM optin_codes")
    assert attempts == limit
    # A fresh code typed right in both processes at once: verified once, one VERIFIED event.
    for user in ids:
        assert await a.optin.issue_code(user, f"p{user}@example.com", "654321", magnet_id=MAGNET,
                                        language="en", ttl_seconds=600, update_id=None)  # fmt: skip
    right = await asyncio.gather(
        *(s.optin.check_code(user, "654321", limit) for user in ids for s in (a, b))
    )
    assert [v for v, _ in right].count(Verdict.VERIFIED) == len(ids)
    assert await a.count_events(Event.VERIFIED) == len(ids)
    # One update issuing a code, handled twice at once (a replay): one mail.
    issued = await asyncio.gather(
        *(
            s.optin.issue_code(
                user,
                f"p{user}@example.com",
                "111111",
                magnet_id=MAGNET,
                language="en",
                ttl_seconds=600,
                update_id=user,
            )
            for user in ids
            for s in (a, b)
        )
    )
    assert sum(issued) == len(ids)


async def test_tip_clicks_outcomes_and_team_answers_count_once(pair: tuple[Store, Store]) -> None:
    a, b = pair
    ids = await _leads(a, PEOPLE)
    due = await _due_tips(a, ids)
    for tip in due:
        assert await a.tips.claim(tip)
    # The sender records the outcome while the person stops, in another process.
    await asyncio.gather(
        *(a.tips.sent(t, 77, ("t2", 10**10)) for t in due),
        *(b.leads.unsubscribe(t.user_id, None) for t in due),
    )
    counts = await a.tips.counts()
    # t2 is paused (stop second) or waits, unsent, for an opt-in (stop first): never lost
    assert counts["sent"] == len(ids) and counts.get("cancelled", 0) + counts.get(
        "pending", 0
    ) == len(ids), counts
    assert {r[0] for r in raw_db.rows(a, "SELECT DISTINCT stage FROM leads")} == {"gone"}
    clicks = await asyncio.gather(
        *(s.tips.record_click(t.user_id, MAGNET, "t1", None) for t in due for s in (a, b))
    )
    assert sum(clicks) == len(ids)
    assert await a.count_events(Event.TIP_CLICK) == len(ids)
    # Two team answers to a waiting person, delivered at once by two processes: one wait ended.
    for user in ids:
        assert await a.team.message_in(user, user, 1, [-100], user, 60)
        assert await a.team.answer(user, -100, 2, user * 10 + 1)
        assert await a.team.answer(user, -100, 3, user * 10 + 2)
    rows = raw_db.rows(a, "SELECT id, person, message_id FROM team_relays WHERE direction = 'out'")
    assert len(rows) == 2 * len(ids)
    relays = [Relay(int(r[0]), int(r[1]), "out", int(r[1]), -100, int(r[2]), 0, None) for r in rows]
    stores = (a, b) * len(ids)
    await asyncio.gather(*(s.team.sent(r, 500) for s, r in zip(stores, relays, strict=True)))
    assert await a.count_events(Event.TEAM_ANSWER) == len(ids)


async def test_a_tip_in_flight_gets_one_outcome(pair: tuple[Store, Store]) -> None:
    """A process taking over marks the tips in flight unknown while the old sender records
    that they went: whichever commits first is the outcome, logged once."""
    a, b = pair
    due = await _due_tips(a, await _leads(a, PEOPLE))
    for tip in due:
        assert await a.tips.claim(tip)
    await asyncio.gather(
        *(x for t in due for x in (a.tips.sent(t, 5, ("t2", 0)), b.tips.unknown(t, ("t2", 0))))
    )
    sent, unknown = await a.count_events(Event.TIP_SENT), await a.count_events(Event.TIP_UNKNOWN)
    assert sent + unknown == len(due), (sent, unknown)
    counts = await a.tips.counts()
    assert counts.get("sent", 0) + counts.get("unknown", 0) == len(due)
    assert counts["pending"] == len(due)  # the next tip scheduled once each


async def test_a_tip_ended_while_claimed_goes_one_way_only(pair: tuple[Store, Store]) -> None:
    a, b = pair
    ids = await _leads(a, PEOPLE)
    due = await _due_tips(a, ids)
    outcome = await asyncio.gather(
        *(
            x
            for t in due
            for x in (a.tips.claim(t), b.tips.end(t.user_id, MAGNET, "t1", ("kept", 10**10)))
        )
    )
    claimed, ended = outcome[::2], outcome[1::2]
    assert all(c != e for c, e in zip(claimed, ended, strict=True))
    for tip, went in zip(due, claimed, strict=True):
        kept = raw_db.rows(
            a, "SELECT state FROM tips WHERE user_id = ? AND tip_id = 'kept'", (tip.user_id,)
        )
        assert bool(kept) == (not went)  # `kept` only beside an ended tip, never beside one sent


async def _waiting_on_locks(url: str, count: int) -> None:
    """Until `count` backends of the database wait for a lock (5 s at most)."""
    watcher = await asyncpg.connect(url)
    try:
        for _ in range(250):
            waiting = await watcher.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            )
            if waiting >= count:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"{count} backend(s) never waited for a lock")
    finally:
        await watcher.close()


async def _backend_waits(
    url: str, store: Store, event_type: str, unless: asyncio.Task[Any] | None = None
) -> bool:
    """Until the store's backend waits (`wait_event_type`: 'Lock' for a row lock, 'Timeout' for
    pg_sleep), True; False as soon as the task `unless` is done without it (5 s at most)."""
    pid = store._db.raw.get_server_pid()  # type: ignore[attr-defined]
    watcher = await asyncpg.connect(url)
    try:
        for _ in range(250):
            waits = await watcher.fetchval(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid
            )
            if waits == event_type:
                return True
            if unless is not None and unless.done():
                return False
            await asyncio.sleep(0.02)
        raise AssertionError(f"backend {pid} never waited ({event_type})")
    finally:
        await watcher.close()


async def test_a_claim_between_the_two_statements_of_ending_a_tip(
    pair: tuple[Store, Store], pg_url: str
) -> None:
    """The worst interleaving, forced: ending a tip is held (a third connection holds the
    person's row, which scheduling the kept tip needs) while the sender tries to claim it."""
    a, b = pair
    [user] = await _leads(a, 1)
    [tip] = await _due_tips(a, [user])
    holder = await asyncpg.connect(pg_url)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM leads WHERE user_id = $1 FOR UPDATE", user)
        ending = asyncio.create_task(b.tips.end(user, MAGNET, "t1", ("kept", 10**10)))
        await _waiting_on_locks(pg_url, 1)
        claiming = asyncio.create_task(a.tips.claim(tip))
        # The claim really meets the held end: it waits for the tip's lock (without that
        # lock it would commit at once, the tip both sent and ended).
        assert await _backend_waits(pg_url, a, "Lock", unless=claiming), await claiming
        assert not ending.done()
        await holder.execute("COMMIT")
        ended, claimed = await ending, await claiming
    finally:
        await holder.close()
    assert ended != claimed
    kept = raw_db.rows(a, "SELECT 1 FROM tips WHERE user_id = ? AND tip_id = 'kept'", (user,))
    assert bool(kept) == ended


async def test_an_erasure_while_a_broadcast_lists_its_recipients(
    pair: tuple[Store, Store], pg_url: str
) -> None:
    """The worst interleaving, forced: the list is being written (held by a third connection
    on the last lead) when another process erases a lead already listed."""
    a, b = pair
    ids = await _leads(a, 10)
    draft = await a.broadcasts.create(1, "news", ["all"])
    holder = await asyncpg.connect(pg_url)
    try:
        await holder.execute("BEGIN")
        await holder.execute("SELECT 1 FROM leads WHERE user_id = $1 FOR UPDATE", ids[-1])
        starting = asyncio.create_task(a.broadcasts.start(draft, paid=False, segment="all"))
        await _waiting_on_locks(pg_url, 1)
        erasing = asyncio.create_task(b.leads.erase(ids[0]))
        await _waiting_on_locks(pg_url, 2)  # the erasure waits for the list's COMMIT
        await holder.execute("COMMIT")
        assert await starting == len(ids)
        assert await erasing
    finally:
        await holder.close()
    listed = {int(r[0]) for r in raw_db.rows(a, "SELECT user_id FROM broadcast_recipients")}
    assert listed == set(ids[1:])


async def test_an_erasure_during_a_broadcast_start_leaves_no_recipient_row(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    ids = await _leads(a, PEOPLE)
    draft = await a.broadcasts.create(1, "news", ["all"])
    await asyncio.gather(
        a.broadcasts.start(draft, paid=False, segment="all"),
        *(b.leads.erase(user) for user in ids[::2]),
    )
    listed = {int(r[0]) for r in raw_db.rows(a, "SELECT user_id FROM broadcast_recipients")}
    assert listed == set(ids[1::2])


async def test_a_failed_statement_rolls_the_transaction_back_and_the_store_goes_on(
    pair: tuple[Store, Store],
) -> None:
    a, _ = pair
    await _leads(a, 1, first=7)
    with pytest.raises(asyncpg.PostgresError):
        async with a._tx() as db:
            await db.execute("UPDATE leads SET first_name = 'half' WHERE user_id = 7")
            await db.execute("INSERT INTO leads (user_id) VALUES (7)")  # NOT NULL: fails
    assert not a._db.in_transaction
    lead = await a.leads.get(7)
    assert lead is not None and lead.first_name == "P7"  # nothing half-applied
    assert await a.tips.schedule(7, MAGNET, "t9", 0)  # the connection is usable


async def test_a_deadlock_fails_one_transaction_cleanly_and_both_go_on(
    pair: tuple[Store, Store],
) -> None:
    a, b = pair
    await _leads(a, 2, first=1)
    both = asyncio.Barrier(2)

    async def cross(store: Store, first: int, second: int) -> None:
        async with store._tx() as db:
            await store._lock(db, first)
            await both.wait()  # each holds one lead: the next lock closes the cycle
            await store._lock(db, second)
            await db.execute("UPDATE leads SET first_name = ? WHERE user_id = 1", (f"by{first}",))

    done = await asyncio.gather(cross(a, 1, 2), cross(b, 2, 1), return_exceptions=True)
    failed = [d for d in done if isinstance(d, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], asyncpg.DeadlockDetectedError), done
    for store in (a, b):
        assert not store._db.in_transaction
        assert await store.leads.unsubscribe(1 if store is a else 2, None)


async def test_a_cancelled_transaction_leaves_the_connection_usable(
    pair: tuple[Store, Store], pg_url: str
) -> None:
    a, _ = pair
    await _leads(a, 1, first=3)

    async def slow() -> None:
        async with a._tx() as db:
            await db.execute("UPDATE leads SET first_name = 'never' WHERE user_id = 3")
            await db.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    assert await _backend_waits(pg_url, a, "Timeout", unless=task)  # in pg_sleep, the update done
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lead = await a.leads.get(3)
    assert lead is not None and lead.first_name == "P3"
    assert await a.leads.unsubscribe(3, None)


async def test_processes_starting_at_once_migrate_the_schema_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(Store.open_postgres(pg_url) for _ in range(4)))
    try:
        for store in stores:
            assert await store.schema_version() == len(MIGRATIONS)
        [(rows,)] = raw_db.rows(stores[0], "SELECT COUNT(*) FROM aimant_schema")
        assert rows == 1
    finally:
        for store in stores:
            await store.close()
