"""Webhooks to other tools, against a real local HTTP receiver that checks every signature:
in order per lead, nothing lost or doubled by event id, failures told to owners."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from bot.outbox.crm import UrlHealth, failing_notice_due, record_pass, sign
from tests import db
from tests.conftest import OWNER, Clock, Harness, stop_harness
from tests.receiver import Receiver

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


SECRET = "s3cret"
ADA, BOB, CY = 1001, 1002, 1003
WEAR = "What to wear for your photo shoot"
PEOPLE = {
    ADA: ("Ada", "Lovelace", "ada_l"),
    BOB: ("Bob", "Marley", "bob_m"),
    CY: ("Cy", "Young", "cy"),
}
Make = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver(SECRET)
    await server.up()
    yield server
    await server.down()
    assert server.rejected == 0, "a request had a bad signature or headers"


async def hooked(bot_with: Make, *urls: str, **settings: Any) -> Harness:
    return await bot_with(crm_webhook_urls=list(urls), crm_webhook_secret=SECRET, **settings)


async def capture(bot: Harness, user: int = ADA, email: str = "ada@example.com") -> None:
    """Start, pick a magnet, give an email, answer: one lead.captured."""
    first, last, username = PEOPLE[user]
    await bot.text(user, "/start instagram", first_name=first, last_name=last, username=username)
    await bot.tap_label(user, WEAR)
    await bot.text(user, email)
    await bot.tap_label(user, "Family or kids")


async def erase(bot: Harness, user: int) -> None:
    await bot.text(user, "/forget")
    await bot.tap_label(user, "Yes, erase my data")


async def settle(bot: Harness) -> None:
    """Let kicked passes finish, then one pass more."""
    await bot.svc.crm.drain()
    await bot.svc.crm.tick()


async def run_until(bot: Harness, clock: Clock, done: Callable[[], Awaitable[bool]]) -> int:
    """Move time 10 minutes at a time (the backoff cap is 30) and tick until `done`."""
    for step in range(400):
        if await done():
            return step
        clock.now += 600
        await bot.svc.crm.tick()
    raise AssertionError("never done")


async def states(bot: Harness, url: str) -> list[tuple[str, str]]:
    return [(kind, state) for _, kind, state in await bot.svc.store.hooks.events(url)]


def notices(bot: Harness) -> list[str]:
    """Every webhook notice owners got: failing, working again, events given up."""
    return [t for t in bot.texts(OWNER) if t.startswith(("⚠️ Webhook", "✅ Webhook"))]


def gave_up(bot: Harness) -> list[str]:
    return [t for t in notices(bot) if "gave up on" in t]


def failing(bot: Harness) -> list[str]:
    return [t for t in notices(bot) if " is failing since " in t]


def test_sign_matches_an_independent_hmac() -> None:
    # RFC 4231 test case 2, and GitHub's documented example for X-Hub-Signature-256.
    rfc = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign(b"Jefe", b"what do ya want for nothing?") == "sha256=" + rfc
    github = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert sign(b"It's a Secret to Everybody", b"Hello, World!") == "sha256=" + github
    body = '{"id":"evt_1","lead":{"first_name":"Zoë"}}'.encode()
    assert sign(b"k", body) == "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()


async def test_a_whole_journey_arrives_in_order_signed(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url)
    await capture(bot)
    await settle(bot)
    await bot.text(ADA, "/plan")
    await settle(bot)
    card = next(s for s in reversed(bot.chat(OWNER)) if "Ready to talk" in s.text)
    await bot.tap(OWNER, "own:w:1001", message_id=card.message_id)
    await bot.tap(OWNER, "own:w:1001", message_id=card.message_id)  # double tap: one event
    await settle(bot)
    await bot.text(ADA, "/stop")
    await settle(bot)
    await erase(bot, ADA)
    await settle(bot)
    assert receiver.types() == [
        "lead.captured",
        "lead.ready_to_talk",
        "lead.won",
        "lead.unsubscribed",
        "lead.erased",
    ]
    captured, ready, won, unsubscribed, erased = (d.event for d in receiver.accepted)
    assert captured["lead"] == {
        "id": ADA,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "username": "ada_l",
        "language": "en",
        "source": "instagram",
        "email": "ada@example.com",
        "email_captured_at": int(clock.now),
        "email_verified": False,
        "email_verified_at": None,
        "stage": "visitor",  # the PDF goes after the question: captured comes first
        "started_at": int(clock.now),
    }
    assert captured["data"] == {"magnet": "what-to-wear", "first": True}
    assert captured["created"] == int(clock.now) and captured["id"].startswith("evt_")
    assert ready["data"] == {"reason": "plan"} and ready["lead"]["stage"] == "hot"
    assert won["lead"]["stage"] == "customer"
    assert unsubscribed["lead"]["email"] == "ada@example.com"
    assert unsubscribed["lead"]["stage"] == "gone"
    assert erased["lead"] == {"id": ADA} and erased["data"] == {}
    assert len(set(receiver.ids())) == 5
    for delivery in receiver.accepted:
        assert delivery.headers["user-agent"] == "Aimant-Webhooks/1"
        assert delivery.path == "/hook"
    assert await bot.svc.store.hooks.counts() == {"sent": 1}  # erasure deleted the other rows
    assert all([await bot.svc.store.hooks.body(i) is None for i in receiver.ids()])  # delivered
    assert notices(bot) == []


async def test_failures_and_downtime_lose_nothing_and_double_nothing(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url)
    receiver.fail_next = 3
    await capture(bot, ADA)
    await capture(bot, BOB, "bob@example.com")
    await bot.svc.crm.drain()
    await receiver.down()
    await bot.text(ADA, "/plan")
    await bot.text(BOB, "/stop")
    await capture(bot, CY, "cy@example.com")
    await bot.text(CY, "/plan")
    await bot.svc.crm.drain()  # the kicked passes tried (a tick during one would only queue)
    for _ in range(5):  # down for a while: attempts fail, nothing is given up
        clock.now += 600
        await bot.svc.crm.tick()
    assert "failed" not in await bot.svc.store.hooks.counts()
    await receiver.up()
    receiver.fail_next = 2
    await bot.text(ADA, "/stop")

    async def all_sent() -> bool:
        return await bot.svc.store.hooks.counts() == {"sent": 7}

    await run_until(bot, clock, all_sent)
    queued = await bot.svc.store.hooks.events(receiver.url)
    assert sorted(receiver.ids()) == sorted(event_id for event_id, _, _ in queued)
    assert len(receiver.ids()) == len(set(receiver.ids())) == 7  # each once, by event id
    assert len(receiver.requests) > 7  # some were refused or failed along the way
    for user in (ADA, BOB, CY):  # each lead's events arrived in the order they happened
        arrived = [d.event["id"] for d in receiver.accepted if d.event["lead"]["id"] == user]
        lead_ids = {d.event["id"] for d in receiver.accepted if d.event["lead"]["id"] == user}
        assert arrived == [event_id for event_id, _, _ in queued if event_id in lead_ids]
    assert [d.event["type"] for d in receiver.accepted if d.event["lead"]["id"] == ADA] == [
        "lead.captured",
        "lead.ready_to_talk",
        "lead.unsubscribed",
    ]
    assert gave_up(bot) == []
    # Down for 50 minutes: owners were told once it persisted, then that it works again.
    [down] = failing(bot)
    assert f"Webhook to 127.0.0.1:{receiver.port} is failing since" in down
    assert "ConnectError" in down and "/hook" not in down
    assert notices(bot)[-1] == f"✅ Webhook to 127.0.0.1:{receiver.port} works again: " + (
        "the waiting events are on their way."
    )


async def test_a_redirect_is_not_followed_and_gives_up_after_the_window(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url, crm_webhook_retry_hours=1)
    receiver.mode = "redirect"
    await capture(bot, ADA)
    await capture(bot, BOB, "bob@example.com")
    await settle(bot)
    assert await states(bot, receiver.url) == [("lead.captured", "pending")] * 2
    [event_id, _] = [event_id for event_id, _, _ in await bot.svc.store.hooks.events()]
    assert await bot.svc.store.hooks.body(event_id) is not None  # kept for the retries

    async def given_up() -> bool:
        return await bot.svc.store.hooks.counts() == {"failed": 2}

    await run_until(bot, clock, given_up)
    assert len(receiver.requests) > 2  # retried
    assert {path for path, _ in receiver.requests} == {"/hook"}  # never followed to /final
    assert receiver.accepted == []
    assert await bot.svc.store.hooks.body(event_id) is None  # the personal data is gone
    [notice] = gave_up(bot)  # one notice for both events, given up in the same pass
    assert f"Webhook to 127.0.0.1:{receiver.port}: gave up on 2 events after 1 h" in notice
    assert f"redirected (302) to http://127.0.0.1:{receiver.port}/…; set the final URL" in notice
    assert "ada@" not in notice and "bob@" not in notice
    assert len(failing(bot)) == 1  # told long before, at the first persistent failure


async def test_a_hanging_receiver_times_out_and_never_holds_the_chat(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url, crm_webhook_timeout=0.3)
    receiver.mode = "hang"
    loop = asyncio.get_running_loop()
    await capture(bot, ADA)
    for _ in range(100):  # the kicked pass is now waiting on the receiver
        if receiver.hanging:
            break
        await asyncio.sleep(0.01)
    assert receiver.hanging == 1
    started = loop.time()
    await bot.text(BOB, "/start")
    assert loop.time() - started < 1.0  # not the 5 s the receiver holds
    assert bot.last(BOB).text.startswith("Hello")
    assert receiver.hanging == 1  # the reply came while the webhook was still hanging
    await bot.svc.crm.drain()
    assert loop.time() - started < 2.0  # given up after the 0.3 s timeout, not the 5 s hang
    assert await states(bot, receiver.url) == [("lead.captured", "pending")]
    receiver.mode = "ok"
    await bot.svc.crm.tick()
    assert receiver.accepted == []  # not due yet: backoff
    clock.now += 10
    await bot.svc.crm.tick()
    assert receiver.types() == ["lead.captured"]
    assert await states(bot, receiver.url) == [("lead.captured", "sent")]


async def test_500_forever_gives_up_then_later_events_go(
    bot_with: Make, receiver: Receiver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    url = receiver.url + "?token=TOKEN-IN-URL"
    bot = await hooked(bot_with, url, crm_webhook_retry_hours=1)
    receiver.mode = "500"
    await capture(bot, ADA)
    await settle(bot)
    clock.now += 40 * 60
    await bot.text(ADA, "/plan")  # queued behind the capture: in order per lead
    await settle(bot)
    assert {event_id for _, event_id in receiver.requests} == {
        (await bot.svc.store.hooks.events())[0][0]
    }

    async def captured_failed() -> bool:
        return (await states(bot, url))[0] == ("lead.captured", "failed")

    with caplog.at_level(logging.WARNING, logger="bot.outbox.crm"):
        await run_until(bot, clock, captured_failed)
    assert await states(bot, url) == [
        ("lead.captured", "failed"),
        ("lead.ready_to_talk", "pending"),
    ]
    [notice] = gave_up(bot)
    assert "gave up on 1 event after" in notice and "Last error: HTTP 500" in notice
    assert "TOKEN-IN-URL" not in notice and "TOKEN-IN-URL" not in caplog.text
    [early] = failing(bot)
    assert "HTTP 500" in early and "TOKEN-IN-URL" not in early
    assert f"webhook 127.0.0.1:{receiver.port}: lead.captured" in caplog.text
    receiver.mode = "ok"

    async def ready_sent() -> bool:
        return (await states(bot, url))[1] == ("lead.ready_to_talk", "sent")

    await run_until(bot, clock, ready_sent)
    assert receiver.types() == ["lead.ready_to_talk"]
    assert receiver.accepted[0].path == "/hook?token=TOKEN-IN-URL"
    assert len(gave_up(bot)) == 1 and len(failing(bot)) == 1
    assert notices(bot)[-1].startswith("✅ Webhook to")


async def test_erasure_while_down_sends_only_the_erase_event(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url)
    await receiver.down()
    await capture(bot, ADA)
    await bot.text(ADA, "/plan")
    await capture(bot, BOB, "bob@example.com")
    await settle(bot)
    await erase(bot, ADA)
    await settle(bot)
    # Ada's undelivered events are gone, body and row: nothing links her id to them.
    assert await states(bot, receiver.url) == [
        ("lead.captured", "pending"),
        ("lead.erased", "pending"),
    ]
    store = bot.svc.store
    for event_id, kind, _ in await store.hooks.events():
        body = await store.hooks.body(event_id)
        if kind == "lead.erased":
            assert body is not None and json.loads(body)["lead"] == {"id": ADA}
        elif body is not None:  # Bob's capture, still to go
            assert "Lovelace" not in body and "ada@" not in body and "Marley" in body
    await receiver.up()
    clock.now += 3600
    await bot.svc.crm.tick()
    assert sorted(receiver.types()) == ["lead.captured", "lead.erased"]
    about_ada = [d for d in receiver.accepted if d.event["lead"]["id"] == ADA]
    assert [d.event["type"] for d in about_ada] == ["lead.erased"]
    assert about_ada[0].event["lead"] == {"id": ADA} and about_ada[0].event["data"] == {}
    for personal in (b"Ada", b"Lovelace", b"ada_l", b"ada@example.com"):
        assert personal not in about_ada[0].raw
    assert await store.hooks.counts() == {"sent": 2}
    # Delivered, the erase event keeps no link to Ada either.
    assert db.value(store, "SELECT COUNT(*) FROM hooks WHERE lead_key = ?", (ADA,)) == 0


async def test_two_urls_each_get_every_event_once(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    other = Receiver(SECRET, ok_status=202)
    await other.up()
    try:
        bot = await hooked(bot_with, receiver.url, other.url)
        other.fail_next = 1
        await capture(bot, ADA)
        await capture(bot, BOB, "bob@example.com")
        await bot.text(BOB, "/stop")
        await settle(bot)
        clock.now += 60
        await bot.svc.crm.tick()
        assert sorted(receiver.ids()) == sorted(other.ids())  # the same event ids
        assert len(receiver.ids()) == len(set(receiver.ids())) == 3  # each once
        bodies = {d.event["id"]: d.raw for d in receiver.accepted}
        assert bodies == {d.event["id"]: d.raw for d in other.accepted}  # the same bytes
        assert await bot.svc.store.hooks.counts() == {"sent": 6}
        assert other.rejected == 0
    finally:
        await other.down()


async def test_no_urls_queue_nothing(bot_with: Make) -> None:
    bot = await bot_with()
    await capture(bot, ADA)
    await bot.text(ADA, "/plan")
    await bot.text(ADA, "/stop")
    await erase(bot, ADA)
    assert await bot.svc.store.hooks.counts() == {}
    assert bot.svc.running is not None and bot.svc.running.crm is None


async def test_a_leads_next_event_goes_in_the_same_pass(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    bot = await hooked(bot_with, receiver.url)
    await receiver.down()
    await capture(bot, ADA)
    await bot.text(ADA, "/plan")
    await bot.text(ADA, "/stop")
    await settle(bot)
    assert receiver.requests == []
    await receiver.up()
    clock.now += 60
    await bot.svc.crm.tick()  # one pass: each event right after the one before it succeeds
    assert receiver.types() == ["lead.captured", "lead.ready_to_talk", "lead.unsubscribed"]


async def test_verified_email_is_an_event(bot_with: Make, receiver: Receiver) -> None:
    """Double opt-in and webhooks together: the CRM hears of the capture, then the verification."""
    from tests.smtp_server import SmtpServer

    smtp = SmtpServer()
    smtp.start()
    try:
        bot = await hooked(
            bot_with,
            receiver.url,
            **smtp.settings(),
        )
        await bot.text(ADA, "/start instagram")
        await bot.tap_label(ADA, WEAR)
        await bot.text(ADA, "ada@example.com")
        await bot.svc.mailer.drain()
        await bot.text(ADA, smtp.inbox.code_for("ada@example.com"))
        await settle(bot)
    finally:
        smtp.stop()
    assert receiver.types() == ["lead.captured", "lead.verified"]
    captured, verified = (d.event for d in receiver.accepted)
    assert captured["lead"]["email_verified"] is False
    assert verified["lead"]["email_verified"] is True
    assert verified["lead"]["email_verified_at"] == int(bot.clock.now)
    assert verified["data"] == {"magnet": "what-to-wear"}


async def test_a_removed_url_is_given_up_at_start(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """Events still waiting for a URL the owner removed from the settings do not wait forever."""
    await receiver.down()
    bot = await hooked(bot_with, receiver.url)
    await capture(bot)
    await settle(bot)
    assert await states(bot, receiver.url) == [("lead.captured", "pending")]
    await stop_harness(bot)
    again = await bot_with()  # restarted without CRM_WEBHOOK_URLS
    assert await states(again, receiver.url) == [("lead.captured", "failed")]
    assert await again.svc.store.hooks.counts() == {"failed": 1}
    await receiver.up()  # for the fixture's teardown


async def test_duplicate_url_and_visitor_erasure(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """A URL listed twice gets each event once (and saving still works); a visitor who never
    gave an email erases themselves without the CRM ever hearing their id."""
    bot = await hooked(bot_with, receiver.url, receiver.url)
    assert bot.svc.settings.crm_webhook_urls == [receiver.url]
    await capture(bot, ADA)
    await bot.svc.crm.drain()  # the CRM has Ada's capture before she erases herself
    await bot.text(BOB, "/start")
    await erase(bot, BOB)
    await erase(bot, ADA)
    await settle(bot)
    assert await bot.svc.store.leads.get(BOB) is None
    assert receiver.types() == ["lead.captured", "lead.erased"]
    assert {d.event["lead"]["id"] for d in receiver.accepted} == {ADA}


async def test_visitor_erasure_is_announced_after_old_rows_are_pruned(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """A visitor whose plan request reached the CRM is announced when they erase, even after
    the delivered rows were cleaned up."""
    bot = await hooked(bot_with, receiver.url)
    await bot.text(CY, "/start")
    await bot.text(CY, "/plan")
    await settle(bot)
    assert receiver.types()[0] == "lead.ready_to_talk"
    clock.now += 31 * 86400
    assert await bot.svc.store.hooks.prune() >= 1
    await erase(bot, CY)
    await settle(bot)
    assert receiver.types()[-1] == "lead.erased"


async def test_an_event_erased_while_it_waits_its_turn_never_leaves(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """Ada's capture waits behind 8 held requests; she erases; her body must not be posted,
    and her erase event must really be delivered (not mistaken for the old row)."""
    bot = await hooked(bot_with, receiver.url, crm_webhook_timeout=2)
    await receiver.down()
    for user in range(5001, 5009):  # 8 other people ahead of Ada
        await bot.text(user, "/start")
        await bot.text(user, "/plan")
    await capture(bot, ADA)
    await settle(bot)
    await receiver.up()
    receiver.mode, receiver.hang_seconds = "hang", 0.5
    clock.now += 3600
    tick = asyncio.get_running_loop().create_task(bot.svc.crm.tick())
    while receiver.hanging < 8:
        await asyncio.sleep(0.01)
    await erase(bot, ADA)
    receiver.mode = "ok"
    await tick
    await bot.svc.crm.drain()
    clock.now += 3600
    await settle(bot)
    about_ada = [d.event for d in receiver.accepted if d.event["lead"]["id"] == ADA]
    assert [e["type"] for e in about_ada] == ["lead.erased"]
    assert all(b"ada@example.com" not in d.raw for d in receiver.accepted)


async def test_an_unexpected_error_still_counts_as_an_attempt(
    bot_with: Make, receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    bot = await hooked(bot_with, receiver.url, crm_webhook_retry_hours=1)

    async def broken(*args: Any) -> str | None:
        raise RuntimeError("boom")

    monkeypatch.setattr(bot.svc.crm, "_post", broken)
    await capture(bot)
    await settle(bot)
    row = db.one(bot.svc.store, "SELECT attempts, next_at, error FROM hooks")
    assert row is not None and row["attempts"] >= 1 and row["next_at"] > clock.now
    assert row["error"] == "unexpected error (RuntimeError)"
    await run_until(bot, clock, lambda: _no_pending(bot))  # given up after the window
    assert len(gave_up(bot)) == 1 and len(failing(bot)) == 1


async def _no_pending(bot: Harness) -> bool:
    return "pending" not in await bot.svc.store.hooks.counts()


def test_a_malformed_url_is_refused_at_start(tmp_path: Any) -> None:
    from bot.settings import SettingsError, load_settings

    for bad in ("http://[oops/hook", "http://host:99999/x", "ftp://host/x", "http:///path"):
        with pytest.raises(SettingsError, match="CRM_WEBHOOK_URLS"):
            load_settings(_env_file=None, crm_webhook_urls=bad, crm_webhook_secret="s")


async def test_owners_get_one_notice_per_url_per_hour(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """A CRM down for good: ten leads' events are given up at different moments, one notice."""
    receiver.mode = "500"
    bot = await hooked(bot_with, receiver.url, crm_webhook_retry_hours=1)
    for user in range(5001, 5011):
        await bot.text(user, "/start")
        await bot.text(user, "/plan")
        await bot.svc.crm.drain()  # each lead's kicked pass tries at its own moment
        clock.now += 120
    await run_until(bot, clock, lambda: _no_pending(bot))
    await bot.svc.crm.drain()  # a kicked pass may still be on its way to telling owners
    assert await bot.svc.store.hooks.counts() == {"failed": 10}
    [notice] = gave_up(bot)
    assert "gave up on" in notice
    assert len(failing(bot)) == 1  # one failing streak: one notice, however long it lasts


async def test_a_hanging_url_never_holds_back_another(bot_with: Make, receiver: Receiver) -> None:
    slow = Receiver(SECRET)
    await slow.up()
    slow.mode, slow.hang_seconds = "hang", 30
    try:
        bot = await hooked(bot_with, slow.url, receiver.url, crm_webhook_timeout=30)
        await capture(bot, ADA)
        for _ in range(200):  # the good URL gets it while the other one is still held
            if receiver.accepted and slow.hanging:  # both arrived, in whichever order
                break
            await asyncio.sleep(0.01)
        assert receiver.types() == ["lead.captured"] and slow.hanging == 1
    finally:
        await slow.down()
    await bot.svc.crm.drain()


async def test_a_retired_erase_event_keeps_no_link(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    await receiver.down()
    bot = await hooked(bot_with, receiver.url)
    await capture(bot, ADA)
    await erase(bot, ADA)
    await settle(bot)
    await stop_harness(bot)
    again = await bot_with()  # restarted without the URL
    rows = db.rows(again.svc.store, "SELECT type, state, lead_key FROM hooks")
    assert [tuple(r) for r in rows] == [("lead.erased", "failed", 0)]
    assert any("1 webhook event waiting" in t and "was given up" in t for t in again.texts(OWNER))
    await receiver.up()


async def test_opting_in_again_is_an_event(bot_with: Make, receiver: Receiver) -> None:
    bot = await hooked(bot_with, receiver.url)
    await capture(bot, ADA)
    await bot.text(ADA, "/stop")
    await bot.text(ADA, "/start what-to-wear")
    await bot.tap_label(ADA, "Yes, opt me in again")
    await settle(bot)
    assert receiver.types() == ["lead.captured", "lead.unsubscribed", "lead.resubscribed"]


async def test_a_redirecting_url_is_told_at_its_first_persistent_failure(
    bot_with: Make, receiver: Receiver, clock: Clock
) -> None:
    """Not 24 h later at the give-up: after 3 failed tries (about 30 s), once, host only."""
    good = Receiver(SECRET)
    await good.up()
    try:
        url = f"http://127.0.0.1:{receiver.port}/hook/SECRET-PATH-TOKEN"
        bot = await hooked(bot_with, url, good.url)
        receiver.mode = "redirect"
        await capture(bot, ADA)
        await settle(bot)
        assert failing(bot) == []  # one failure is not persistent yet
        clock.now += 10
        await bot.svc.crm.tick()
        assert failing(bot) == []
        clock.now += 20
        await bot.svc.crm.tick()  # the third try in a row
        [notice] = failing(bot)
        assert notice.startswith(f"⚠️ Webhook to 127.0.0.1:{receiver.port} is failing since ")
        assert f"redirected (302) to http://127.0.0.1:{receiver.port}/…; set the final URL" in (
            notice
        )
        assert "SECRET-PATH-TOKEN" not in notice and "/final" not in notice
        assert f"127.0.0.1:{good.port}" not in "".join(notices(bot))  # the other URL is fine
        for _ in range(6):  # still failing: no second notice
            clock.now += 600
            await bot.svc.crm.tick()
        assert len(failing(bot)) == 1
        await bot.text(OWNER, "/stats")
        stats = next(t for t in reversed(bot.texts(OWNER)) if "Webhook deliveries" in t)
        assert f"127.0.0.1:{receiver.port}: ⚠️ failing since " in stats
        assert "set the final URL), 1 waiting" in stats
        assert f"127.0.0.1:{good.port}: ✅ delivering, 0 waiting" in stats
        assert "SECRET-PATH-TOKEN" not in stats
        receiver.mode = "ok"
        clock.now += 1800
        await bot.svc.crm.tick()
        assert notices(bot)[-1].startswith(f"✅ Webhook to 127.0.0.1:{receiver.port} works again")
        await bot.text(OWNER, "/stats")
        stats = next(t for t in reversed(bot.texts(OWNER)) if "Webhook deliveries" in t)
        assert f"127.0.0.1:{receiver.port}: ✅ delivering, 0 waiting" in stats
    finally:
        await good.down()


def test_failing_notice_rule() -> None:
    """3 failed passes or 5 minutes failing; once per streak; at most once an hour per URL."""
    now = 1_790_000_000
    health = UrlHealth()
    record_pass(health, 0, "HTTP 500", now)
    assert not failing_notice_due(health, now)
    assert failing_notice_due(health, now + 300)  # 5 minutes failing, however few tries
    record_pass(health, 0, "HTTP 500", now + 10)
    record_pass(health, 0, "HTTP 500", now + 30)
    assert health.failing_since == now and failing_notice_due(health, now + 30)
    health.told, health.noticed_at = True, now + 30
    assert not failing_notice_due(health, now + 7200)  # told once for this streak
    record_pass(health, 1, None, now + 600)  # delivered: the streak ends
    assert health.failing_since is None and health.failures == 0
    health.told = False
    for t in (now + 700, now + 710, now + 730):  # failing again within the hour
        record_pass(health, 0, "HTTP 502", t)
    assert not failing_notice_due(health, now + 730)
    assert failing_notice_due(health, now + 30 + 3600)
    record_pass(health, 0, None, now + 4000)  # a pass with nothing due changes nothing
    assert health.failures == 3
