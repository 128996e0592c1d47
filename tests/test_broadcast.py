"""/broadcast: compose, segment, preview, test, confirm; durable, once per person, cancellable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from bot.broadcast.sender import Broadcaster
from bot.telegram.pacing import Pacer
from tests.conftest import OWNER, Harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


TEXT = "Spring is here & so are our new guides"  # typed as it is: nothing to escape


async def make_leads(bot: Harness, ids: range, magnet: str = "what-to-wear") -> None:
    """Leads straight into the store (faster than walking the funnel for each)."""
    store = bot.svc.store
    for user in ids:
        bot.fake.add_user(user, first_name=f"Lead{user}")
        await store.leads.touch_visitor(
            user, first_name=f"Lead{user}", last_name=None, username=None, language="en",
            source="flyer" if user % 2 else "instagram",
        )  # fmt: skip
        await store.leads.request_magnet(user, magnet, None)
        await store.leads.capture_email(
            user, f"l{user}@example.com", consent_version="v", magnet_id=magnet
        )
        await store.leads.mark_delivered(user, magnet, None)


def received(bot: Harness, user: int) -> list[str]:
    return [s.text for s in bot.chat(user) if s.text.startswith("Spring is here")]


async def compose_to_all(bot: Harness, owner: int = OWNER) -> int:
    await bot.text(owner, "/broadcast")
    assert bot.last(owner).text == bot.t("bc_ask")
    await bot.text(owner, TEXT)
    picker = bot.last(owner)
    assert picker.text.startswith("📣 Broadcast #")
    await bot.tap(owner, picker.buttons[0][0][1], message_id=picker.message_id)
    return int(picker.text.split("#")[1].split(":")[0])


@contextlib.asynccontextmanager
async def ticking(bot: Harness, step: float = 30) -> AsyncIterator[None]:
    """Move the test clock forward while a broadcast waits for retries."""

    async def run() -> None:
        while True:
            await asyncio.sleep(0.01)
            bot.clock.now += step

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()


async def test_whole_broadcast_flow(bot: Harness) -> None:
    await make_leads(bot, range(100, 110))
    await bot.text(105, "/stop")  # unsubscribed: not in any audience
    await bot.text(7, "/start")  # a visitor without email: not a lead
    broadcast_id = await compose_to_all(bot)
    copy, audience = bot.chat(OWNER)[-2:]
    assert copy.text == "Spring is here & so are our new guides"  # exactly as leads will see it
    assert copy.buttons == [[("🔕 Stop messages from us", f"stp:{broadcast_id}")]]
    assert "Audience: 9 (All subscribed leads)" in audience.text
    await bot.tap(OWNER, f"bc:t:{broadcast_id}", message_id=audience.message_id)
    assert received(bot, OWNER) == ["Spring is here & so are our new guides"] * 2
    await bot.tap(OWNER, f"bc:go:{broadcast_id}:0", message_id=audience.message_id)
    await bot.svc.broadcaster.wait(broadcast_id)
    for user in range(100, 110):
        assert len(received(bot, user)) == (0 if user == 105 else 1)
    assert received(bot, 7) == []
    report = bot.last(OWNER).text
    assert report.startswith(f"✅ Broadcast #{broadcast_id} finished: sent 9, blocked 0")
    progress = await bot.svc.store.broadcasts.progress(broadcast_id)
    assert progress["sent"] == 9
    # Its stop button unsubscribes and is counted.
    message = bot.chat(101)[-1]
    await bot.tap(101, f"stp:{broadcast_id}", message_id=message.message_id)
    assert (await bot.svc.store.broadcasts.progress(broadcast_id))["stop_clicks"] == 1
    lead = await bot.svc.store.leads.get(101)
    assert lead is not None and not lead.subscribed


async def test_segments_and_an_empty_one(bot: Harness) -> None:
    await make_leads(bot, range(200, 204))
    await make_leads(bot, range(300, 302), magnet="gardening-basics")
    await bot.text(OWNER, f"/broadcast {TEXT}")
    picker = bot.last(OWNER)
    labels = [row[0][0] for row in picker.buttons]
    assert labels[0] == "All subscribed leads (6)"
    assert "Got “What to wear for your photo shoot” (4)" in labels
    assert "Got “Beginner's gardening guide” (2)" in labels
    assert "Stage: customer (0)" in labels and "Source: flyer (3)" in labels
    empty = next(row[0][1] for row in picker.buttons if row[0][0] == "Stage: customer (0)")
    await bot.tap(OWNER, empty, message_id=picker.message_id)
    audience = bot.last(OWNER)
    assert audience.text.startswith("Nobody is in this segment")
    assert [row[0][1].split(":")[1] for row in audience.buttons] == ["t", "x"]  # no confirm


async def test_cancel_leaves_composing(bot: Harness) -> None:
    await bot.text(OWNER, "/broadcast")
    await bot.text(OWNER, "/cancel")
    await bot.text(OWNER, "<b>now</b>")
    assert bot.last(OWNER).text == bot.t("fallback")  # no longer composing


async def test_two_owners_confirming_the_same_broadcast(bot_with) -> None:  # type: ignore[no-untyped-def]
    bot = await bot_with(owner_ids=[OWNER, OWNER + 1])
    await make_leads(bot, range(400, 405))
    await bot.text(OWNER + 1, "/help")
    broadcast_id = await compose_to_all(bot)
    # Both taps found a draft before either starts it (however the loop interleaves them).
    store, both = bot.svc.store.broadcasts, asyncio.Barrier(2)
    start = store.start

    async def start_together(*args: object) -> int | None:
        await both.wait()
        return await start(*args)  # type: ignore[arg-type]

    store.start = start_together  # type: ignore[method-assign]
    await asyncio.gather(
        bot.tap(OWNER, f"bc:go:{broadcast_id}:0"), bot.tap(OWNER + 1, f"bc:go:{broadcast_id}:0")
    )
    await bot.svc.broadcaster.wait(broadcast_id)
    assert all(len(received(bot, u)) == 1 for u in range(400, 405))
    assert bot.t("bc_not_draft") in [s.text for s in bot.chat(OWNER) + bot.chat(OWNER + 1)]


async def test_cancel_while_sending(bot: Harness) -> None:
    await make_leads(bot, range(500, 560))
    bot.fake.latency = 0.05
    broadcast_id = await compose_to_all(bot)
    await bot.tap(OWNER, f"bc:go:{broadcast_id}:0")
    await asyncio.sleep(0.2)
    await bot.tap(OWNER, f"bc:x:{broadcast_id}")
    await bot.svc.broadcaster.wait(broadcast_id)
    got = sum(len(received(bot, u)) for u in range(500, 560))
    assert 0 < got < 60
    assert bot.last(OWNER).text.startswith(f"🛑 Broadcast #{broadcast_id} cancelled: sent {got}")


async def test_blocked_recipients_and_server_errors(bot: Harness) -> None:
    await make_leads(bot, range(600, 610))
    for user in (601, 602):
        bot.fake.block(user)
    bot.fake.deactivate(603)
    bot.fake.fail_next("copyMessage", 500, times=3, chat_ids=set(range(600, 610)))
    broadcast_id = await compose_to_all(bot)
    async with ticking(bot):
        await bot.tap(OWNER, f"bc:go:{broadcast_id}:0")
        await asyncio.wait_for(bot.svc.broadcaster.wait(broadcast_id), 20)
    progress = await bot.svc.store.broadcasts.progress(broadcast_id)
    assert (progress["sent"], progress["blocked"]) == (7, 3)
    assert all(len(received(bot, u)) == 1 for u in range(600, 610) if u not in (601, 602, 603))
    for user in (601, 602, 603):
        lead = await bot.svc.store.leads.get(user)
        assert lead is not None and lead.blocked_at is not None  # never sent to again
    assert await bot.svc.store.broadcasts.audience_size("all") == 7


async def test_too_many_requests_pauses_then_resumes(bot: Harness) -> None:
    await make_leads(bot, range(700, 705))
    bot.fake.fail_next("copyMessage", 429, retry_after=1, chat_ids=set(range(700, 705)))
    broadcast_id = await compose_to_all(bot)
    await bot.tap(OWNER, f"bc:go:{broadcast_id}:0")
    await asyncio.wait_for(bot.svc.broadcaster.wait(broadcast_id), 20)
    assert all(len(received(bot, u)) == 1 for u in range(700, 705))


async def test_restart_mid_broadcast_resumes_without_duplicates(bot: Harness) -> None:
    await make_leads(bot, range(800, 820))
    broadcast_id = await compose_to_all(bot)
    store = bot.svc.store
    assert await store.broadcasts.start(broadcast_id, paid=False) == 20
    # A previous process sent to the first five and died while sending to the sixth.
    for user in range(800, 806):
        await store.broadcasts.claim_recipient(broadcast_id, user)
    for user in range(800, 805):
        await store.broadcasts.recipient_done(broadcast_id, user, "sent")
    restarted = Broadcaster(bot.svc, bot.app.bot, Pacer(25))
    assert await restarted.resume() == 1
    await restarted.wait(broadcast_id)
    progress = await store.broadcasts.progress(broadcast_id)
    assert (progress["sent"], progress["unknown"]) == (19, 1)
    assert received(bot, 805) == []  # in flight at the crash: unknown, never resent
    assert sum(len(received(bot, u)) for u in range(806, 820)) == 14


async def test_broadcast_is_owner_only(bot: Harness) -> None:
    await make_leads(bot, range(900, 902))
    broadcast_id = await compose_to_all(bot)
    await bot.text(900, "/broadcast hello everyone")
    assert bot.last(900).text == bot.t("unknown_command")
    for data in (
        f"bc:go:{broadcast_id}:0",
        f"bc:x:{broadcast_id}",
        f"bc:s:{broadcast_id}:0",
        "bc:go:x",
    ):
        await bot.tap(900, data)
        assert bot.fake.answered_callbacks[-1].text == bot.t("button_expired")
    draft = await bot.svc.store.broadcasts.get(broadcast_id)
    assert draft is not None and draft.state == "draft"


async def test_review_cases_timeouts_leavers_cancel_button_and_segment(bot: Harness) -> None:
    await make_leads(bot, range(1100, 1110))
    await bot.text(OWNER, f"/broadcast {TEXT}")
    picker = bot.last(OWNER)
    customers = next(i for i, row in enumerate(picker.buttons) if "Source: flyer" in row[0][0])
    await bot.tap(OWNER, picker.buttons[customers][0][1], message_id=picker.message_id)
    preview = bot.last(OWNER)
    go = next(data for row in preview.buttons for _, data in row if data.startswith("bc:go:"))
    await bot.tap(OWNER, picker.buttons[0][0][1], message_id=picker.message_id)  # "All" since
    await bot.text(1101, "/stop")  # left before the confirm
    await bot.tap(OWNER, go, message_id=preview.message_id)
    bot.request.timeout_next(1, "copyMessage", delivered=True)  # the first send: answer lost
    status = bot.last(OWNER)
    assert status.buttons and status.buttons[0][0][1].startswith("bc:x:")
    await bot.svc.broadcaster.wait(1)
    flyer = [u for u in range(1100, 1110) if u % 2]
    for user in range(1100, 1110):
        assert len(received(bot, user)) <= 1  # the timed-out one is not sent again
        if user not in flyer or user == 1101:
            assert received(bot, user) == []  # the previewed segment, not "All"; 1101 left
    progress = await bot.svc.store.broadcasts.progress(1)
    assert progress.get("unknown", 0) == 1
    assert status.buttons == []  # the final edit removes the cancel button


async def test_leaving_while_queued_skips_the_broadcast(bot: Harness) -> None:
    await make_leads(bot, range(1200, 1205))
    broadcast_id = await compose_to_all(bot)
    assert await bot.svc.store.broadcasts.start(broadcast_id, paid=False, segment="all") == 5
    await bot.text(1202, "/stop")  # listed at the confirm, then left before being reached
    bot.fake.block(1203)
    await bot.svc.store.leads.mark_blocked(1203)
    bot.svc.broadcaster.launch(broadcast_id)
    await bot.svc.broadcaster.wait(broadcast_id)
    assert received(bot, 1202) == [] and received(bot, 1203) == []
    progress = await bot.svc.store.broadcasts.progress(broadcast_id)
    assert (progress["sent"], progress["skipped"]) == (3, 2)
