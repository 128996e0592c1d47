"""Shared mode: several bot processes on one PostgreSQL database (bot/telegram/cluster.py).

Each "process" here is a whole application (its store, its two cluster connections, its
requests) in this test's event loop, against one fake Bot API; a process dies as PostgreSQL
sees it die: its connections cut.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from telegram import Update
from telegram.ext import TypeHandler

from bot.app import App, build_application, close_services, open_services, stop_services
from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.outbox.mailer import Mailer
from bot.outbox.pump import Pump
from bot.services import Ctx, Services
from bot.store import Store
from bot.store.cluster import INBOX_CHANNEL, LEADER_LOCK, ClusterConnection, halves, person_key
from bot.telegram.cluster import LINGER, SWEEP_EVERY, Cluster, Dispatcher
from bot.telegram.intake import IntakeProcessor
from bot.telegram.polling import serve_shared_polling
from bot.telegram.webhook import SECRET_HEADER, WebhookServer
from tests.conftest import OWNER, make_settings
from tests.fakeapi import FakeRequest, FakeTelegram, FakeTelegramServer
from tests.pgserver import PASSWORD
from tests.test_e2e_kill import BotProcess

TIMEOUT = 15.0


class NodeRequest(FakeRequest):
    """The fake Bot API as one process reaches it: every method it called, in order."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake)
        self.methods: list[tuple[str, Any]] = []

    async def answer(self, api_method: str, params: dict[str, Any], *args: Any) -> Any:
        self.methods.append((api_method, params.get("chat_id")))
        return await super().answer(api_method, params, *args)


@dataclass
class Node:
    """One bot process of the cluster."""

    name: str
    app: App
    svc: Services
    request: NodeRequest
    errors: list[BaseException] = field(default_factory=list)
    # (update id, person, start, end) of each update this process handled
    handled: list[tuple[int, int | None, float, float]] = field(default_factory=list)
    serving: asyncio.Task[None] | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def cluster(self) -> Cluster:
        cluster: Cluster = self.app.bot_data["cluster"]
        return cluster

    def called(self, method: str) -> int:
        return sum(1 for m, _ in self.request.methods if m == method)

    def kill(self) -> None:
        """Die as PostgreSQL sees it: both cluster connections cut (its locks go)."""
        assert self.cluster.dispatcher is not None and self.cluster.leadership is not None
        self.cluster.leadership.conn.abort()
        self.cluster.dispatcher.conn.abort()


async def start_node(
    name: str, tmp_path: Path, pg_url: str, fake: FakeTelegram, *, polling: bool = False,
    **overrides: Any,
) -> Node:  # fmt: skip
    """An application in shared mode, started (webhook-like: updates reach it via the inbox)."""
    settings = make_settings(tmp_path, database_url=pg_url, **overrides)
    svc = Services(
        settings,
        load_catalogue(settings.catalogue_path),
        load_texts(settings.texts_dir, settings.default_language),
    )
    request = NodeRequest(fake)
    app = build_application(svc, request=request, updates_request=request)
    node = Node(name, app, svc, request)

    async def on_error(update: object, context: Ctx) -> None:
        assert context.error is not None
        node.errors.append(context.error)

    started: dict[int, tuple[int | None, float]] = {}

    async def first(update: Update, context: Ctx) -> None:  # before every handler
        user = update.effective_user
        started[update.update_id] = (user.id if user else None, time.monotonic())
        await asyncio.sleep(0.01)  # wide enough for another process to try the same person

    app.add_handler(TypeHandler(Update, first), group=-100)
    app.add_error_handler(on_error)
    app.bot_data["shared"] = True
    if polling:
        node.serving = asyncio.create_task(serve_shared_polling(app, svc, node.stop))
        await wait_for(lambda: "cluster" in app.bot_data and app.running)
    else:
        await app.initialize()
        await open_services(app)
        await app.start()
    processor = app.update_processor
    assert isinstance(processor, IntakeProcessor) and processor.finished is not None
    release = processor.finished

    async def finished(update_id: int) -> None:  # marked done; its person's lock goes next
        user, begun = started.pop(update_id, (None, 0.0))
        node.handled.append((update_id, user, begun, time.monotonic()))
        await release(update_id)

    processor.finished = finished
    return node


async def stop_node(node: Node) -> None:
    if node.serving is not None:
        node.stop.set()
        await node.serving
        return
    if node.app.running:
        await node.app.stop()
    await stop_services(node.app)
    await node.app.shutdown()
    await close_services(node.app)


async def wait_for(condition: Callable[[], bool], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.02)


async def wait_async(condition: Callable[[], Awaitable[bool]], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)


@pytest.fixture
async def nodes(
    tmp_path: Path, pg_url: str, fake: FakeTelegram
) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    """A factory of cluster processes; each stopped at the end, none with a handler error."""
    started: list[Node] = []
    for owner in (OWNER,):
        fake.add_user(owner, first_name="Owner")

    async def make(name: str, **overrides: Any) -> Node:
        node = await start_node(name, tmp_path, pg_url, fake, **overrides)
        started.append(node)
        return node

    yield make
    for node in started:
        await stop_node(node)
    for node in started:
        assert not node.errors, f"{node.name}: handler errors {node.errors!r}"
    assert not fake.violations, f"calls Telegram would reject: {fake.violations}"


def leader_of(*nodes: Node) -> list[Node]:
    return [n for n in nodes if n.cluster.leading]


async def test_one_leader_then_the_other_takes_over(nodes: Callable[..., Awaitable[Node]]) -> None:
    a = await nodes("a")
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b")
    await asyncio.sleep(1.5)  # b tried for the lead at least once
    assert leader_of(a, b) == [a]
    assert "nurture" in [j.name for j in a.app.job_queue.jobs()]  # type: ignore[union-attr]
    assert "nurture" not in [j.name for j in b.app.job_queue.jobs()]  # type: ignore[union-attr]
    died = time.monotonic()
    a.kill()
    await wait_for(lambda: b.cluster.leading, timeout=5)
    took = time.monotonic() - died
    assert took < 5, f"took {took:.2f} s to take over"  # ~1 s idle; 2 cores shared in CI
    fatal = a.app.bot_data["guard"].fatal
    assert fatal and "cluster: the leader lock's connection" in fatal, fatal  # it stops (exit 2)
    assert fatal.startswith("lost the connection to the database postgresql://aimant@"), fatal
    assert "(setting DATABASE_URL)" in fatal, fatal
    assert not a.cluster.leading
    assert "nurture" in [j.name for j in b.app.job_queue.jobs()]  # type: ignore[union-attr]


async def test_each_persons_updates_once_in_order_across_processes(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    # Each may hold 3 of the 6 persons at once: both must take part.
    a, b = await nodes("a", concurrent_updates=3), await nodes("b", concurrent_updates=3)
    people = [1001 + i for i in range(6)]
    for person in people:
        fake.add_user(person, first_name=f"P{person}")
    raws = []
    for n in range(8):  # each person's messages interleaved with the others'
        for person in people:
            raws.append(fake.build_message(person, "/start" if n == 0 else f"hello {n}"))
    for i, raw in enumerate(raws):  # received round-robin, as behind a load balancer
        store = (a if i % 2 else b).svc.store
        await store.intake.save([(raw["update_id"], raw["message"]["from"]["id"], json.dumps(raw))])

    async def all_done() -> bool:
        return await a.svc.store.intake.pending_count() == 0

    await wait_async(all_done)
    await wait_for(lambda: len(a.handled) + len(b.handled) >= len(raws))
    handled = sorted(a.handled + b.handled, key=lambda h: h[2])
    ids = [h[0] for h in handled]
    assert sorted(ids) == sorted(r["update_id"] for r in raws)  # each once
    for person in people:
        mine = [h for h in handled if h[1] == person]
        assert [h[0] for h in mine] == sorted(h[0] for h in mine)  # in order
        for before, after in itertools.pairwise(mine):
            assert before[3] <= after[2], "two processes on one person at once"
    assert a.handled and b.handled, "both processes take part"


async def test_a_dead_processs_person_is_picked_up(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    a = await nodes("a")
    person = 2001
    fake.add_user(person, first_name="Stuck")
    gate = asyncio.Event()

    async def stuck(update: Update, context: Ctx) -> None:  # a handles the person, then dies
        if context.application is a.app:
            await asyncio.wait_for(gate.wait(), TIMEOUT)

    a.app.add_handler(TypeHandler(Update, stuck), group=-99)
    first = fake.build_message(person, "/start")
    second = fake.build_message(person, "hello")
    for raw in (first, second):
        await a.svc.store.intake.save([(raw["update_id"], person, json.dumps(raw))])
    await wait_for(lambda: bool(a.cluster.dispatcher and a.cluster.dispatcher.held))
    b = await nodes("b")
    await asyncio.sleep(1.2)
    assert not b.handled, "b must wait while a holds the person"
    a.kill()
    # Queued in a before it noticed: left to b, not handled by both.
    await a.app.update_queue.put(Update.de_json(second, a.app.bot))
    await wait_for(lambda: len(b.handled) == 2)
    assert [h[0] for h in b.handled] == [first["update_id"], second["update_id"]]
    gate.set()  # a's update in flight goes on (as a process being killed would, for a moment)
    await wait_for(lambda: len(a.handled) == 2)
    assert f"update {second['update_id']} left to another process (locks lost)" in caplog.text


async def test_only_the_leader_polls_and_a_follower_takes_over(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a = await nodes("a", polling=True)
    await wait_for(lambda: a.called("getUpdates") > 0)
    b = await nodes("b", polling=True)
    person = 3001
    fake.add_user(person, first_name="Polled")
    fake.message(person, "/start")
    await wait_for(lambda: len(a.handled) + len(b.handled) == 1)
    await asyncio.sleep(1.2)
    assert b.called("getUpdates") == 0, "a follower never polls"
    a.kill()
    a.stop.set()  # the supervisor's SIGTERM, after the exit the guard asked for
    await wait_for(lambda: b.called("getUpdates") > 0, timeout=5)
    fake.message(person, "hello")
    await wait_for(lambda: any(h[1] == person for h in b.handled))


async def test_a_followers_broadcast_is_sent_by_the_leader(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a = await nodes("a")
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b")
    store = b.svc.store
    leads = range(4001, 4006)
    for user in leads:
        fake.add_user(user, first_name=f"Lead{user}")
        await store.leads.touch_visitor(
            user, first_name="L", last_name=None, username=None, language="en", source=None
        )
        await store.leads.request_magnet(user, "what-to-wear", None)
        await store.leads.capture_email(
            user, f"l{user}@example.com", consent_version="v", magnet_id="what-to-wear"
        )
        await store.leads.mark_delivered(user, "what-to-wear", None)

    async def on_b(update: dict[str, Any]) -> None:  # b handles the owner's taps itself
        parsed = Update.de_json(update, b.app.bot)
        await b.app.update_processor.process_update(parsed, b.app.process_update(parsed))

    await on_b(fake.build_message(OWNER, "/broadcast"))
    await on_b(fake.build_message(OWNER, "Spring is here"))
    picker = fake.sent_to(OWNER)[-1]
    broadcast_id = int(picker.text.split("#")[1].split(":")[0])
    await on_b(fake.build_callback(OWNER, picker.buttons[0][0][1], message_id=picker.message_id))
    audience = fake.sent_to(OWNER)[-1]
    await on_b(
        fake.build_callback(OWNER, f"bc:go:{broadcast_id}:0", message_id=audience.message_id)
    )

    async def finished() -> bool:
        found = await store.broadcasts.get(broadcast_id)
        return found is not None and found.state == "done"

    await wait_async(finished)
    to_leads = {chat for _, chat in a.request.methods if chat in leads}
    assert to_leads == set(leads), "the leader sent the broadcast"
    assert not {chat for _, chat in b.request.methods if chat in leads}, "b never sends it"
    for user in leads:
        assert [s.text for s in fake.sent_to(user)] == ["Spring is here"]


async def test_a_graceful_stop_hands_the_lead_over(nodes: Callable[..., Awaitable[Node]]) -> None:
    a = await nodes("a")
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b")
    await stop_node(a)  # SIGTERM: senders stopped, then the locks released
    stopped = time.monotonic()
    await wait_for(lambda: b.cluster.leading, timeout=5)
    assert time.monotonic() - stopped < 5
    assert a.app.bot_data["guard"].fatal is None  # a clean stop, exit 0


async def test_the_server_ending_the_leaders_connection_stops_it(
    nodes: Callable[..., Awaitable[Node]], pg_url: str
) -> None:
    a = await nodes("a")
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b")
    assert a.cluster.leadership is not None
    conn = await asyncpg.connect(pg_url)
    try:  # e.g. an administrator, or a failover: PostgreSQL ends the session, its lock goes
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory'"
            " AND objsubid = 1 AND objid = $1 AND granted AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())",
            LEADER_LOCK & 0xFFFFFFFF,
        )
    finally:
        await conn.close()
    await wait_for(lambda: a.app.bot_data["guard"].fatal is not None, timeout=5)
    assert not a.cluster.leading  # it stopped sending at once
    running = a.svc.running
    assert running is not None and running.pumps
    assert all(pump._stopped for pump in running.pumps)  # no next mail batch, event, relay
    await wait_for(lambda: b.cluster.leading, timeout=5)


async def test_a_process_holds_at_most_concurrent_updates_persons(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a = await nodes("a", concurrent_updates=2)
    gate = asyncio.Event()
    peak = 0

    async def slow(update: Update, context: Ctx) -> None:
        nonlocal peak
        assert a.cluster.dispatcher is not None
        peak = max(peak, len(a.cluster.dispatcher.held))
        await asyncio.wait_for(gate.wait(), TIMEOUT)

    a.app.add_handler(TypeHandler(Update, slow), group=-99)
    people = range(5001, 5006)
    for person in people:
        fake.add_user(person, first_name="P")
        raw = fake.build_message(person, "/start")
        await a.svc.store.intake.save([(raw["update_id"], person, json.dumps(raw))])
    dispatcher = a.cluster.dispatcher
    assert dispatcher is not None
    await wait_for(lambda: len(dispatcher.held) == 2)
    await asyncio.sleep(1.2)  # a sweep or more: still no third
    assert len(dispatcher.held) == 2
    gate.set()
    await wait_for(lambda: len(a.handled) == len(people))
    assert peak == 2


async def test_only_the_leader_sends_tips_then_its_successor(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    hours = {"tips_check_seconds": 0.3, "send_hours": "00:00-24:00"}
    a = await nodes("a", **hours)
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b", **hours)
    store = b.svc.store
    first, later = range(6001, 6004), range(6004, 6007)
    for user in (*first, *later):
        fake.add_user(user, first_name=f"Lead{user}")
        await store.leads.touch_visitor(
            user, first_name="L", last_name=None, username=None, language="en", source=None
        )
        await store.leads.request_magnet(user, "what-to-wear", None)
        await store.leads.capture_email(
            user, f"l{user}@example.com", consent_version="v", magnet_id=None
        )
        await store.leads.mark_delivered(user, "what-to-wear", None)

    def sent_by(node: Node, users: range) -> set[int]:
        return {chat for _, chat in node.request.methods if chat in users}

    for user in first:
        await store.tips.schedule(user, "what-to-wear", "colours", int(time.time()) - 1)
    await wait_for(lambda: sent_by(a, first) == set(first))
    a.kill()
    await wait_for(lambda: b.cluster.leading, timeout=5)
    for user in later:
        await a.svc.store.tips.schedule(user, "what-to-wear", "colours", int(time.time()) - 1)
    await wait_for(lambda: sent_by(b, later) == set(later))
    assert not sent_by(b, first) and not sent_by(a, later)
    for user in (*first, *later):
        assert len(fake.sent_to(user)) == 1  # each tip once


async def test_webhooks_of_both_processes_feed_one_inbox(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    hook = {"webhook_url": "https://bot.example", "webhook_secret": "s3cret_hook"}
    a = await nodes("a", **hook)
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b", **hook)
    servers = [WebhookServer(n.app, n.svc) for n in (a, b)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=s), base_url="http://bot")
        for s in servers
    ]
    headers = {SECRET_HEADER: "s3cret_hook"}
    try:
        health = [(await c.get("/health")).json() for c in clients]
        assert [h["leader"] for h in health] == [True, False]
        person = 7001
        fake.add_user(person, first_name="Hooked")
        raws = [fake.build_message(person, "/start" if i == 0 else f"hi {i}") for i in range(6)]
        for i, raw in enumerate(raws):  # round robin; each also retried to the other one
            for client in (clients[i % 2], clients[(i + 1) % 2]):
                answer = await client.post("/telegram", json=raw, headers=headers)
                assert answer.status_code == 200
        await wait_for(lambda: len(a.handled) + len(b.handled) >= len(raws))
        await asyncio.sleep(0.3)  # a second copy would be handled by now
        handled = sorted(a.handled + b.handled, key=lambda h: h[2])
        assert [h[0] for h in handled] == [r["update_id"] for r in raws]  # once, in order
        assert (await clients[1].get("/health")).json()["pending"] == 0
    finally:
        for client in clients:
            await client.aclose()


async def test_a_big_batch_is_announced_without_names_and_still_handled(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str
) -> None:
    store = await Store.open_postgres(pg_url)
    try:  # 900 keys of 11 characters: past PostgreSQL's 8000 bytes for one NOTIFY
        await store.intake.save((n, 10_000_000_000 + n, "{}") for n in range(1, 901))
        assert await store.intake.pending_count() == 900
        await store._write1("DELETE FROM inbox")
    finally:
        await store.close()
    a = await nodes("a")
    people = range(8001, 8041)
    for person in people:
        fake.add_user(person, first_name="P")
    raws = [fake.build_message(person, "/start") for person in people]
    await a.svc.store.intake.save(
        (r["update_id"], r["message"]["from"]["id"], json.dumps(r)) for r in raws
    )
    await wait_for(lambda: len(a.handled) == len(raws))


def test_the_bot_as_a_process_exits_2_when_its_leader_lock_goes(
    tmp_path: Path, pg_url: str
) -> None:
    """`aimant` on PostgreSQL: the server ends the session holding its leader lock (a failover,
    an administrator): one CRITICAL line, exit code 2, for a supervisor to start it again."""
    fake = FakeTelegram()
    with FakeTelegramServer(fake) as server:
        bot = BotProcess(server, fake, tmp_path, DATABASE_URL=pg_url)
        try:
            bot.start()  # polling: it leads

            async def end_leader_session() -> None:
                conn = await asyncpg.connect(pg_url)
                try:
                    await conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_locks"
                        " WHERE locktype = 'advisory' AND objsubid = 1 AND objid = $1 AND database"
                        " = (SELECT oid FROM pg_database WHERE datname = current_database())",
                        LEADER_LOCK & 0xFFFFFFFF,
                    )
                finally:
                    await conn.close()

            asyncio.run(end_leader_session())
            assert bot.proc is not None
            assert bot.proc.wait(timeout=20) == 2
        finally:
            bot.kill()
    log = (tmp_path / "bot-1.log").read_text()
    lines = [line for line in log.splitlines() if " CRITICAL " in line or " ERROR " in line]
    assert len(lines) == 1 and "cluster:" in lines[0], lines
    assert "lost the connection to the database" in lines[0] and "DATABASE_URL" in lines[0]
    assert "Traceback" not in log and PASSWORD not in log


async def test_the_server_drops_a_vanished_process_within_seconds(pg_url: str) -> None:
    conn = await ClusterConnection.connect(pg_url)  # over TCP, as across machines
    try:
        assert await conn._val("SHOW tcp_keepalives_idle") == "5"
        assert await conn._val("SHOW tcp_keepalives_interval") == "2"
        assert await conn._val("SHOW tcp_keepalives_count") == "3"
        assert await conn._val("SHOW tcp_user_timeout") == "10000"  # ms
    finally:
        await conn.close()


async def test_a_dead_processs_person_is_swept_up_under_steady_notifies(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str
) -> None:
    b = await nodes("b")
    person = 9001
    fake.add_user(person, first_name="Orphan")
    raw = fake.build_message(person, "/start")
    dead = await asyncpg.connect(pg_url)  # a process holding the person, about to be killed
    key = person_key(person, raw["update_id"])
    await dead.execute("SELECT pg_advisory_lock($1, $2)", *halves(key))
    await b.svc.store.intake.save([(raw["update_id"], person, json.dumps(raw))])
    noise = await asyncpg.connect(pg_url)
    stop = asyncio.Event()

    async def chatter() -> None:  # other persons' updates, every 0.2 s, never a quiet second
        while not stop.is_set():
            await noise.execute("SELECT pg_notify($1, '424242')", INBOX_CHANNEL)
            await asyncio.sleep(0.2)

    talking = asyncio.create_task(chatter())
    try:
        await asyncio.sleep(1.5)
        assert not b.handled
        dead.terminate()  # killed: its lock goes, no NOTIFY names the person
        died = time.monotonic()
        await wait_for(lambda: bool(b.handled), timeout=5)
        took = time.monotonic() - died
        assert took < 2.5, f"took {took:.2f} s"  # the next sweep, ~1 s; loaded CI
    finally:
        stop.set()
        await talking
        await noise.close()


async def test_an_update_that_cannot_be_marked_done_is_not_retried_in_a_hot_loop(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await nodes("a")
    person = 9101
    fake.add_user(person, first_name="Stubborn")
    raw = fake.build_message(person, "hello")
    intake = a.svc.store.intake
    done, failures = intake.done, 0

    async def failing_done(update_id: int) -> None:
        nonlocal failures
        if update_id == raw["update_id"] and failures < 2:
            failures += 1
            raise RuntimeError("disk I/O error")
        await done(update_id)

    monkeypatch.setattr(intake, "done", failing_done)
    await intake.save([(raw["update_id"], person, json.dumps(raw))])
    await wait_async(lambda: _pending_is(a, 0))
    tries = [h for h in a.handled if h[0] == raw["update_id"]]
    assert len(tries) == 3  # two failures, each retried a sweep later; then done
    assert tries[2][2] - tries[0][3] >= 1.5  # not at once: SWEEP_EVERY apart
    assert [str(e) for e in a.errors] == ["disk I/O error"] * 2
    a.errors.clear()


async def _pending_is(node: Node, count: int) -> bool:
    return await node.svc.store.intake.pending_count() == count


async def test_a_lost_lead_stops_a_mail_pass_after_the_batch_under_way() -> None:
    pending = list(range(20))  # > 8 mails due
    sent: list[int] = []

    class Optin:
        async def prune_quota(self) -> None:
            pass

        async def due_mails(self, limit: int) -> list[Any]:
            return [type("Mail", (), {"id": i})() for i in pending[:limit]]

    def mailer(on_send: Callable[[Pump], None]) -> Mailer:
        m = Mailer.__new__(Mailer)
        Pump.__init__(m)
        m.svc = type("Svc", (), {"store": type("Store", (), {"optin": Optin()})()})()  # type: ignore[assignment]
        m._pruned_at = time.monotonic()

        async def deliver(mail: Any) -> None:
            on_send(m)
            await asyncio.sleep(0.01)  # with the SMTP server
            sent.append(mail.id)
            pending.remove(mail.id)

        m._deliver = deliver  # type: ignore[method-assign]
        return m

    old = mailer(lambda m: m.halt())  # the lead is lost as its first batch leaves
    await old.tick()
    assert len(sent) == 8  # the batch under way finishes; no next one
    await mailer(lambda m: None).tick()  # the new leader
    assert sorted(sent) == list(range(20))  # each mail once


async def test_a_stopping_follower_never_takes_the_lead(
    nodes: Callable[..., Awaitable[Node]],
) -> None:
    a = await nodes("a")
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b")
    b.cluster.stop_dispatching()  # b's shutdown begins
    a.kill()
    await asyncio.sleep(2.5)  # two tries for the lead, had it not stopped
    assert b.cluster.leadership is not None and not b.cluster.leadership.leading


async def test_an_unreadable_update_that_cannot_be_set_aside_frees_its_person(
    nodes: Callable[..., Awaitable[Node]], monkeypatch: pytest.MonkeyPatch
) -> None:
    a = await nodes("a")
    intake = a.svc.store.intake
    done, failures = intake.done, 0
    update_id, person = 9_201_000, 9201

    async def failing_done(uid: int) -> None:
        nonlocal failures
        if uid == update_id and failures < 1:
            failures += 1
            raise RuntimeError("disk I/O error")
        await done(uid)

    monkeypatch.setattr(intake, "done", failing_done)
    raw = {"update_id": update_id, "message": {"bogus": 1}}  # no PTB reads this
    await intake.save([(update_id, person, json.dumps(raw))])
    await wait_async(lambda: _pending_is(a, 0))
    assert failures == 1  # set aside again a sweep later, then done
    dispatcher = a.cluster.dispatcher
    assert dispatcher is not None
    await wait_for(lambda: not dispatcher.held)


# Person affinity: a person's lock kept LINGER after their last pending update.


async def _save(node: Node, raw: dict[str, Any]) -> None:
    """The update kept by this process (its NOTIFY reaches every dispatcher)."""
    user = raw["message"]["from"]["id"]
    await node.svc.store.intake.save([(raw["update_id"], user, json.dumps(raw))])


async def _insert_unannounced(pg_url: str, raw: dict[str, Any]) -> None:
    """The update kept with no NOTIFY: only a dispatcher's own look at the inbox finds it."""
    conn = await asyncpg.connect(pg_url)
    try:
        await conn.execute(
            "INSERT INTO inbox (update_id, user_id, payload, received_at) VALUES ($1, $2, $3, $4)",
            raw["update_id"], raw["message"]["from"]["id"], json.dumps(raw), int(time.time()),
        )  # fmt: skip
    finally:
        await conn.close()


async def _locked(conn: asyncpg.Connection, key: int) -> bool:
    """Whether some session holds the person's lock."""
    sql = (
        "SELECT COUNT(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND granted"
        " AND ((classid::bigint << 32) | objid::bigint) = $1"
    )
    return bool(await conn.fetchval(sql, key))


async def _started(fake: FakeTelegram, node: Node, person: int) -> dict[str, Any]:
    """A new person's /start, kept by this process; the update."""
    fake.add_user(person, first_name=f"P{person}")
    raw = fake.build_message(person, "/start")
    await _save(node, raw)
    return raw


def _dispatcher(node: Node) -> Dispatcher:
    assert node.cluster.dispatcher is not None
    return node.cluster.dispatcher


def _handled(update_id: int, *nodes: Node) -> Callable[[], bool]:
    """A condition: one of these processes handled the update."""
    return lambda: _handler(update_id, *nodes) is not None


def _handler(update_id: int, *nodes: Node) -> tuple[Node, float] | None:
    """The process that handled the update, and when it was done."""
    for node in nodes:
        for handled in node.handled:
            if handled[0] == update_id:
                return node, handled[3]
    return None


async def test_a_persons_next_update_within_linger_stays_with_their_process(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await nodes("a"), await nodes("b")
    person = 9301
    fake.add_user(person, first_name="Chatty")
    raws = [fake.build_message(person, "/start" if n == 0 else f"hi {n}") for n in range(5)]
    for n, raw in enumerate(raws):  # received by either process, 0.3 s after the last reply
        await _save((a, b)[n % 2], raw)
        await wait_for(_handled(raw["update_id"], a, b))
        await asyncio.sleep(0.3)
    names = [h[0].name for r in raws if (h := _handler(r["update_id"], a, b))]
    assert len(set(names)) == 1, names  # without the linger: 1 chance in 16


async def test_a_lingering_person_takes_no_slot(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a = await nodes("a", concurrent_updates=1)
    first, other = 9311, 9312
    await _started(fake, a, first)
    await wait_for(lambda: first in _dispatcher(a)._lingering)
    raw = await _started(fake, a, other)
    await wait_for(_handled(raw["update_id"], a), timeout=LINGER)
    assert first in _dispatcher(a)._lingering  # handled during the first person's linger


async def test_a_lingering_person_is_released_after_linger(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str
) -> None:
    a = await nodes("a")
    person = 9321
    raw = await _started(fake, a, person)
    await wait_for(_handled(raw["update_id"], a))
    done = time.monotonic()
    other = await asyncpg.connect(pg_url)  # another process
    try:
        assert await _locked(other, person), "kept while lingering"
        while await _locked(other, person):
            assert time.monotonic() - done < LINGER + 1.0, "never released"
            await asyncio.sleep(0.02)
        released = time.monotonic() - done
        assert LINGER - 0.1 <= released <= LINGER + 0.5, released
        assert person not in _dispatcher(a)._lingering
        assert await other.fetchval("SELECT pg_try_advisory_lock($1, $2)", *halves(person))
        await other.execute("SELECT pg_advisory_unlock($1, $2)", *halves(person))
    finally:
        await other.close()


@pytest.mark.parametrize("announced", [True, False])
async def test_an_update_arriving_around_the_linger_s_end_is_not_stranded(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str, announced: bool
) -> None:
    # Just before, at and just after the expiry; announced (NOTIFY) or found by a look alone
    # (the expiry's next_or_release, else a sweep): never more than LINGER + SWEEP_EVERY.
    a, b = await nodes("a"), await nodes("b")
    person = 9331 + announced
    raw = await _started(fake, a, person)
    await wait_for(_handled(raw["update_id"], a, b))
    await wait_for(lambda: any(person in _dispatcher(n)._lingering for n in (a, b)))
    waits = []
    for offset in (-0.04, -0.01, 0.0, 0.01, 0.04):
        holder = next(n for n in (a, b) if person in _dispatcher(n)._lingering)
        expiry = _dispatcher(holder)._lingering[person]
        await asyncio.sleep(max(0.0, expiry + offset - time.monotonic()))
        raw = fake.build_message(person, f"at {offset}")
        sent = time.monotonic()
        if announced:
            await _save(a, raw)
        else:
            await _insert_unannounced(pg_url, raw)
        limit = (0.5 if announced else SWEEP_EVERY + 0.5) + max(0.0, expiry - sent)
        await wait_for(_handled(raw["update_id"], a, b), timeout=limit)
        waits.append(round(time.monotonic() - sent, 2))
        await wait_for(lambda: any(person in _dispatcher(n)._lingering for n in (a, b)))
    print(f"\nwaits around the expiry (announced={announced}): {waits}")


async def test_stopping_releases_a_lingering_person_at_once(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str
) -> None:
    a, b = await nodes("a"), await nodes("b")  # both first: a start may outlast the linger
    person = 9341
    other = await asyncpg.connect(pg_url)
    try:
        raw = await _started(fake, a, person)
        await wait_for(lambda: any(person in _dispatcher(n)._lingering for n in (a, b)))
        holder = next(n for n in (a, b) if person in _dispatcher(n)._lingering)
        rest = b if holder is a else a
        assert await _locked(other, person)  # still lingering as the stop comes
        holder.cluster.stop_dispatching()
        stopped = time.monotonic()
        while await _locked(other, person):
            assert time.monotonic() - stopped < LINGER / 2  # released, not left to expire
            await asyncio.sleep(0.01)
    finally:
        await other.close()
    assert not _dispatcher(holder)._lingering
    raw = fake.build_message(person, "hello")
    await _save(holder, raw)
    await wait_for(_handled(raw["update_id"], rest), timeout=1.0)


async def test_an_update_read_as_the_stop_begins_is_not_queued_for_ptb(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, pg_url: str
) -> None:
    # A look's round trip under way when the stop comes: queued then, the update would never be
    # done (PTB's fetcher gone: the stop hangs, the person's lock held). Released instead.
    a = await nodes("a")
    person = 9351
    raw = await _started(fake, a, person)
    await wait_for(lambda: person in _dispatcher(a)._lingering)
    dispatcher = _dispatcher(a)
    late = fake.build_message(person, "late")
    await _insert_unannounced(pg_url, late)
    head = await dispatcher.conn.earliest(person)  # the read under the kept lock ...
    assert head is not None and head[0] == late["update_id"]
    dispatcher.stop()  # ... and the stop comes before it is handed
    queued = a.app.update_queue.qsize()
    assert not await dispatcher._hand(person, *head)
    assert a.app.update_queue.qsize() == queued and late["update_id"] not in dispatcher.held
    other = await asyncpg.connect(pg_url)  # another process
    try:
        await asyncio.sleep(0.1)
        assert not await _locked(other, person)  # released: whoever goes on takes it
        pending = "SELECT COUNT(*) FROM inbox WHERE update_id = $1 AND done_at IS NULL"
        assert await other.fetchval(pending, late["update_id"]) == 1
    finally:
        await other.close()
    assert _handler(raw["update_id"], a) is not None
