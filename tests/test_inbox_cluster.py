# ruff: noqa: F811  (the tests take test_cluster's `nodes` fixture, imported here)
"""The team inbox with several processes on one PostgreSQL database, and at a stop.

One topic per person across processes: alerts are relays there, sent by the elected leader
alone (bot/inbox/relay.py). A stop never waits for the group's budget (bot/telegram/replies.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from telegram import Update

from bot.inbox import relay
from bot.inbox.relay import TOPIC_CLAIM_SECONDS, GroupPace
from bot.store.team import ALERT
from bot.telegram.replies import GaveUp
from tests.conftest import OWNER, Harness
from tests.fakeapi import Call, FakeTelegram
from tests.test_cluster import Node, nodes, wait_async, wait_for  # noqa: F401

GROUP = -1009876543210
ADA = 1001


async def on(node: Node, update: dict[str, Any]) -> None:
    """This process handles the update (as its dispatcher would hand it)."""
    parsed = Update.de_json(update, node.app.bot)
    await node.app.update_processor.process_update(parsed, node.app.process_update(parsed))


def topics_made(fake: FakeTelegram) -> int:
    return sum(1 for c in fake.calls if c.method == "createForumTopic" and c.status == 200)


async def two_with_ada(
    fake: FakeTelegram, nodes: Callable[..., Awaitable[Node]], started_on: str
) -> tuple[Node, Node]:
    """Leader a, follower b, the inbox group; Ada's /start handled by `started_on`."""
    fake.add_forum(GROUP)
    a = await nodes("a", inbox_chat_id=GROUP)
    await wait_for(lambda: a.cluster.leading)
    b = await nodes("b", inbox_chat_id=GROUP)
    fake.add_user(ADA, first_name="Ada")
    await on(a if started_on == "a" else b, fake.build_message(ADA, "/start"))
    return a, b


async def test_a_persons_message_and_alert_in_two_processes_open_one_topic(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await two_with_ada(fake, nodes, "a")
    fake.latency = 0.05  # both would look for her topic before either opened it
    # Her question is handled by a (the leader relays it), her /plan by b at once.
    await asyncio.gather(
        on(a, fake.build_message(ADA, "Hello, a question about prices")),
        on(b, fake.build_message(ADA, "/plan")),
    )

    async def relayed() -> bool:
        return await a.svc.store.team.pending() == 0

    await wait_async(relayed)
    assert topics_made(fake) == 1 and len(fake.topics[GROUP]) == 1
    [(thread, title)] = fake.topics[GROUP].items()
    assert title.startswith("🔥 ")
    in_group = [s for s in fake.sent_to(GROUP) if s.method in ("sendMessage", "copyMessage")]
    card, question, alert = in_group  # in her topic, in order: card, her message, the alert
    assert card.text.startswith("💬 New conversation")
    assert question.text == "Hello, a question about prices"
    assert "Ready to talk" in alert.text
    assert {s.message["message_thread_id"] for s in in_group} == {thread}
    group_calls = {m for m, chat in b.request.methods if chat == GROUP}
    assert not group_calls, f"only the leader writes into the group, b called {group_calls}"
    assert not fake.sent_to(OWNER)  # the group took it: nothing in private


async def test_a_replayed_alert_is_queued_and_sent_once(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await two_with_ada(fake, nodes, "b")
    plan = fake.build_message(ADA, "/plan")
    await on(b, plan)
    # b died before /plan was marked done: the update is handled again (by either process).
    await a.app.process_update(Update.de_json(plan, a.app.bot))

    async def relayed() -> bool:
        return await a.svc.store.team.pending() == 0

    await wait_async(relayed)
    await asyncio.sleep(0.2)
    alerts = [s for s in fake.sent_to(GROUP) if "Ready to talk" in s.text]
    assert len(alerts) == 1 and topics_made(fake) == 1


async def test_a_queued_alert_the_group_refuses_reaches_the_owners_in_private(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await two_with_ada(fake, nodes, "b")
    fake.kick(GROUP)  # the bot was removed from the group
    await on(b, fake.build_message(ADA, "/plan"))
    await wait_for(lambda: any("Ready to talk" in s.text for s in fake.sent_to(OWNER)))
    row = await a.svc.store.team._one(
        "SELECT state, error FROM team_relays WHERE direction = ?", (ALERT,)
    )
    assert row is not None and row["state"] == "failed"
    assert row["error"].startswith("owners alerted in private")


async def alert_row(node: Node) -> dict[str, Any]:
    """The queued alert's relay row: its state and last error."""
    row = await node.svc.store.team._one(
        "SELECT state, error FROM team_relays WHERE direction = ?", (ALERT,)
    )
    assert row is not None
    return dict(row)


async def ada_in_two(
    fake: FakeTelegram, nodes: Callable[..., Awaitable[Node]]
) -> tuple[Node, Node]:
    """Leader a and follower b, Ada's topic open (b handled her messages)."""
    a, b = await two_with_ada(fake, nodes, "b")
    await on(b, fake.build_message(ADA, "a question"))  # her topic opens (leader a)
    await wait_async(lambda: no_relay_pending(a))
    return a, b


async def no_relay_pending(node: Node) -> bool:
    return await node.svc.store.team.pending() == 0


def private_calls(fake: FakeTelegram) -> list[Call]:
    """The calls made to the owner's private chat."""
    return [c for c in fake.calls if c.params.get("chat_id") == OWNER]


def alerts_in(fake: FakeTelegram, chat: int) -> int:
    return sum(1 for s in fake.sent_to(chat) if "Ready to talk" in s.text)


async def test_a_queued_alert_meeting_a_connection_reset_is_retried_in_the_group(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "retry_delay", lambda attempts: 0.5)  # not 2 s, 4 s...
    a, b = await ada_in_two(fake, nodes)
    a.request.reset_next(times=2, method="sendMessage")  # Telegram unreachable for a moment
    await on(b, fake.build_message(ADA, "/plan"))
    await wait_async(lambda: no_relay_pending(a), timeout=30)  # a loaded machine
    # Before: one try, the owners' private chats failing the same way, the alert lost.
    assert alerts_in(fake, GROUP) == 1 and not alerts_in(fake, OWNER)
    assert (await alert_row(a))["state"] == "sent"


async def test_a_queued_alert_timed_out_is_sent_to_the_group_again_not_in_private(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay, "retry_delay", lambda attempts: 0.5)  # not 2 s, 4 s...
    a, b = await ada_in_two(fake, nodes)
    a.request.timeout_next(method="sendMessage", delivered=True)  # it arrived, its answer lost
    await on(b, fake.build_message(ADA, "/plan"))
    await wait_async(lambda: no_relay_pending(a), timeout=30)  # a loaded machine
    assert alerts_in(fake, GROUP) == 2  # at least once: a duplicate rather than none
    assert not alerts_in(fake, OWNER)
    assert (await alert_row(a))["state"] == "sent"


async def test_a_queued_alert_no_owner_got_in_private_waits(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await ada_in_two(fake, nodes)
    fake.kick(GROUP)  # the bot was removed from the group
    fake.block(OWNER)  # and the only owner blocked it
    await on(b, fake.build_message(ADA, "/plan"))
    await wait_for(lambda: any(c.status == 403 for c in private_calls(fake)))
    await asyncio.sleep(0.3)
    row = await alert_row(a)
    assert row["state"] == "pending" and row["error"].startswith("no owner reached")
    fake.unblock(OWNER)
    await wait_async(lambda: no_relay_pending(a), timeout=30)  # a loaded machine
    assert alerts_in(fake, OWNER) == 1
    assert (await alert_row(a))["error"].startswith("owners alerted in private")


async def test_a_leader_change_while_a_topic_is_being_opened_leaves_one_topic(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await two_with_ada(fake, nodes, "a")
    answer = a.request.answer

    async def slow(api_method: str, params: dict[str, Any], *args: Any) -> Any:
        if api_method.lower() == "createforumtopic":
            await asyncio.sleep(3.0)  # Telegram slow for a moment (a's call only)
        return await answer(api_method, params, *args)

    a.request.answer = slow  # type: ignore[method-assign]
    await on(a, fake.build_message(ADA, "Hello, a question about prices"))
    await asyncio.sleep(0.3)  # a's createForumTopic is under way
    a.kill()  # a's locks gone, its call goes on (sends under way finish): b takes over
    await wait_for(lambda: b.cluster.leading, timeout=5)
    await wait_async(lambda: no_relay_pending(b))
    await asyncio.sleep(3.5)  # a's call has ended
    a.app.bot_data["guard"].fatal = None  # a's expected fatal line
    # Before: b found the relay pending and no topic stored, and opened a second one.
    assert topics_made(fake) == 1 and len(fake.topics[GROUP]) == 1
    [thread] = fake.topics[GROUP]
    copies = [s for s in fake.sent_to(GROUP) if s.method == "copyMessage"]
    assert [c.message["message_thread_id"] for c in copies] == [thread]


async def test_a_topic_claim_stands_until_stored_released_or_stale(
    nodes: Callable[..., Awaitable[Node]],
) -> None:
    team, now = (await nodes("a")).svc.store.team, [1_000_000.0]
    team._store._clock = lambda: now[0]
    assert await team.claim_topic(ADA, GROUP, TOPIC_CLAIM_SECONDS)
    assert not await team.claim_topic(ADA, GROUP, TOPIC_CLAIM_SECONDS)  # another process waits
    assert await team.topic_claimed(ADA, TOPIC_CLAIM_SECONDS)
    now[0] += TOPIC_CLAIM_SECONDS  # its claimer crashed: the claim expires
    stale = await team.claim_topic(ADA, GROUP, TOPIC_CLAIM_SECONDS)
    assert stale
    now[0] += TOPIC_CLAIM_SECONDS
    fresh = await team.claim_topic(ADA, GROUP, TOPIC_CLAIM_SECONDS)
    assert fresh
    await team.release_topic(ADA, stale)  # the slow first call failed at last: not ours
    assert await team.topic_claimed(ADA, TOPIC_CLAIM_SECONDS)
    await team.release_topic(ADA, fresh)  # its call failed
    assert not await team.topic_claimed(ADA, TOPIC_CLAIM_SECONDS)
    await team.set_topic(ADA, GROUP, 7, "Ada")  # opened and stored (by a deposed leader)
    assert not await team.topic_claimed(ADA, TOPIC_CLAIM_SECONDS)
    # A claim after the topic was stored (its check just before) fails: the topic is used.
    assert not await team.claim_topic(ADA, GROUP, TOPIC_CLAIM_SECONDS)


async def test_a_new_leader_counts_the_groups_last_minute(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    fake.group_per_minute = 20  # Telegram's group limit (a 429 past it), the rest as in process
    a, b = await two_with_ada(fake, nodes, "a")
    for n in range(18):  # the topic, its card and 18 copies: the group's 20 for this minute
        await on(a, fake.build_message(ADA, f"message {n}"))

    async def relayed() -> bool:
        return await a.svc.store.team.pending() == 0

    await wait_async(relayed)
    a.kill()
    await wait_for(lambda: b.cluster.leading, timeout=5)
    await on(b, fake.build_message(ADA, "one more"))
    await asyncio.sleep(0.5)
    assert await b.svc.store.team.pending() == 1  # waiting for the group's minute, no 429
    inbox = b.svc.running.inbox if b.svc.running else None
    assert inbox is not None
    pace = inbox._paces[GROUP]
    assert pace.wait(b.svc.clock()) > 0 and len(pace.times) == GroupPace().limit
    assert not [c for c in fake.calls if c.status == 429]


async def test_a_stop_gives_up_a_wait_for_the_groups_budget(bot_with: Any, fake: Any) -> None:
    """SQLite: the alert is sent from the handler; PTB's limiter has spent the group's 20, the
    handler waits for the next slot when the stop begins: it gives up at once, the update is
    left not done, and the replay at the next start alerts once."""
    fake.add_forum(GROUP)
    bot: Harness = await bot_with(inbox_chat_id=GROUP)
    await bot.text(ADA, "/start", first_name="Ada")
    for n in range(20):  # the group's budget in PTB's limiter (20 a minute), spent
        await bot.app.bot.send_message(GROUP, f"team chatter {n}")
    app = bot.app
    await app.start()
    plan = fake.build_message(ADA, "/plan")
    await app.update_queue.put(Update.de_json(plan, app.bot))
    limiter = app.bot.rate_limiter._get_group_limiter(GROUP)  # type: ignore[union-attr]
    await wait_for(lambda: bool(limiter._waiters))  # the alert waits for the group's turn
    begun = time.monotonic()
    await app.stop()
    took = time.monotonic() - begun
    assert took < 1.0, f"the stop took {took:.1f} s"
    assert not await bot.svc.store.intake.is_done(plan["update_id"])  # replayed next start
    assert [type(e) for e in bot.errors] == [GaveUp]
    bot.errors.clear()
    assert not [s for s in fake.sent_to(GROUP) if "Ready to talk" in s.text]
    limiter._level = 0.0  # a minute later, the next start (AimantApplication.start)
    app.update_processor.stopping = False  # type: ignore[attr-defined]
    await bot.send(plan)  # the next start replays it
    await bot.send(plan)  # and a crash's replay after it is done: skipped
    alerts = [s for s in fake.sent_to(GROUP) if "Ready to talk" in s.text]
    assert len(alerts) == 1 and topics_made(fake) == 1
    assert await bot.svc.store.intake.is_done(plan["update_id"])


async def test_a_new_leader_counts_the_groups_minute_before_it_may_send(
    nodes: Callable[..., Awaitable[Node]], fake: FakeTelegram
) -> None:
    a, b = await ada_in_two(fake, nodes)  # a sent her topic, its card and her copy
    inbox = b.svc.running.inbox if b.svc.running else None
    assert inbox is not None
    booked = b.svc.clock()  # b's own sends still under way (from a term it led before)
    inbox._paces[GROUP] = GroupPace()
    inbox._paces[GROUP].take(booked, 5)
    standing_by: list[bool] = []
    seed = inbox.seed_pace

    async def seeding() -> None:
        standing_by.append(inbox.standby is not None)
        await seed()

    inbox.seed_pace = seeding  # type: ignore[method-assign]
    a.kill()
    await wait_for(lambda: b.cluster.leading, timeout=5)
    await wait_for(lambda: bool(standing_by))
    # Before: seeded after standby(None), so a kick meanwhile started a pass on an empty pace,
    # and the seed replaced the pace, dropping what was booked.
    assert standing_by == [True]
    times = inbox._paces[GROUP].times
    assert times.count(booked) == 5 and len(times) == 5 + 3
