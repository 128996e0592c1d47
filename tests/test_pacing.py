"""Pacing: a fake as strict as Telegram, the even-spacing pacer, claims only once a slot is held,
and broadcast retries on their documented backoff."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from telegram import Bot
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from bot.app import build_application
from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.services import Services
from bot.telegram.pacing import (
    ARRIVAL_MARGIN,
    LATE,
    WIRE_WAIT,
    Departure,
    Pacer,
    departure_hooks,
)
from bot.telegram.sending import Outcome, send
from tests.conftest import OWNER, Clock, Harness, make_settings
from tests.fakeapi import FakeRequest, FakeTelegram, FakeTelegramServer
from tests.fakeapi.records import busiest_second
from tests.test_broadcast import compose_to_all, make_leads, received

TOKEN = "123456:PACING-token"
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
async def api(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, request=FakeRequest(fake)) as bot:
        yield bot


async def refused(bot: Bot, chat_id: int) -> int | None:
    """The retry_after of a 429 for this send, None if it was accepted."""
    try:
        await bot.send_message(chat_id, "x")
    except RetryAfter as exc:
        return int(exc.retry_after)  # type: ignore[arg-type]
    return None


# ----- the fake counts rolling windows, like Telegram ------------------------------------------


async def test_no_burst_allowance_after_idle(api: Bot, fake: FakeTelegram, clock: Clock) -> None:
    fake.bulk_rate = 3
    for user in range(1, 8):
        fake.add_user(user)
    clock.now += 3600  # a long idle spell saves nothing up
    assert [await refused(api, u) for u in (1, 2, 3)] == [None, None, None]
    assert await refused(api, 4) == 1
    clock.now += 0.5
    assert await refused(api, 5) == 1  # before retry_after elapsed: another 429...
    clock.now += 0.9
    assert await refused(api, 5) == 1  # ...whose retry_after counts from then
    clock.now += 1
    assert await refused(api, 5) is None
    # Rolling: one second after each accepted message, one more fits, not a whole second's worth.
    assert await refused(api, 6) is None and await refused(api, 7) is None
    assert await refused(api, 1) == 1
    assert busiest_second([c.at for c in fake.calls if c.status == 200]) == 3


async def test_per_chat_bursts_and_group_minutes(
    api: Bot, fake: FakeTelegram, clock: Clock
) -> None:
    fake.strict()
    fake.add_user(1)
    fake.add_chat({"id": -100, "type": "supergroup", "title": "Team"})
    assert [await refused(api, 1) for _ in range(3)] == [None, None, None]  # a short burst
    assert await refused(api, 1) == 1
    for _ in range(57):  # then one a second, up to 60 in a minute
        clock.now += 1
        assert await refused(api, 1) is None
    clock.now += 1
    assert await refused(api, 1) == 2
    clock.now += 2
    assert await refused(api, 1) is None
    for _ in range(20):
        assert await refused(api, -100) is None
        clock.now += 1
    assert await refused(api, -100) == 40  # 20 a minute in one group
    clock.now += 40
    assert await refused(api, -100) is None


async def test_paid_broadcasts_have_their_own_window(api: Bot, fake: FakeTelegram) -> None:
    fake.bulk_rate, fake.paid_rate = 1, 5
    for user in range(1, 7):
        fake.add_user(user)
    for user in range(1, 6):
        await api.send_message(user, "paid", allow_paid_broadcast=True)
    await api.send_message(6, "free")
    with pytest.raises(RetryAfter):
        await api.send_message(6, "paid", allow_paid_broadcast=True)


# ----- the pacer ---------------------------------------------------------------------------------


async def test_pacer_spaces_slots_evenly_and_pauses() -> None:
    loop = asyncio.get_running_loop()
    pacer = Pacer(50)
    stamps = []
    for _ in range(10):
        assert await pacer.slot()
        stamps.append(loop.time())
    # The k-th slot never comes before k intervals after the first: no burst, even from idle.
    assert all(at - stamps[0] >= k / 50 - 1e-6 for k, at in enumerate(stamps))
    pacer.pause(0.2)
    paused_at = loop.time()
    assert await pacer.slot()
    assert loop.time() - paused_at >= 0.2


async def test_late_slots_never_add_up_to_a_burst() -> None:
    loop = asyncio.get_running_loop()
    pacer = Pacer(20)
    stamps: list[float] = []

    held, waits = [0], [0.0]

    async def one() -> None:
        while True:  # as a sender does: held back, pending again, then a slot again
            assert await pacer.slot()
            asked = loop.time()
            wired = await pacer.wire()
            waits[0] = max(waits[0], loop.time() - asked)
            if wired:
                wired.over()  # as `send` does once its call is over
                stamps.append(loop.time())
                return
            held[0] += 1

    waiting = [asyncio.create_task(one()) for _ in range(30)]
    await asyncio.sleep(0)  # all booked
    time.sleep(0.5)  # the event loop stalls: ten slots' timers are overdue at once
    await asyncio.gather(*waiting)
    assert len(stamps) == 30
    assert busiest_second(stamps) <= 20  # still Telegram's rule: 20 in any rolling second
    # Those bunched by the stall were held back (pending again), not kept waiting once claimed:
    # a crash then leaves them pending, not `unknown`.
    assert held[0] > 0 and waits[0] < WIRE_WAIT + 0.05, (held, waits)


async def test_arrival_jitter_up_to_the_margin_never_makes_rate_plus_one() -> None:
    """Telegram counts where requests arrive: each delayed by 0 to ARRIVAL_MARGIN s (at random,
    and the worst case: the first of a second late, the next ones on time), still at most R in
    any rolling second at the far end, and the pacer keeps >= 0.95 of R."""
    loop = asyncio.get_running_loop()
    rate = 40
    pacer = Pacer(rate)
    wired: list[float] = []
    for _ in range(2 * rate + 1):
        assert await pacer.slot()
        departure = await pacer.wire()
        assert departure is not None
        departure.over()
        wired.append(loop.time())
    jitter = random.Random(7)
    arrived = [at + jitter.uniform(0, ARRIVAL_MARGIN) for at in wired]
    assert busiest_second(arrived) <= rate
    worst = [at + (ARRIVAL_MARGIN * 0.999 if k % rate == 0 else 0) for k, at in enumerate(wired)]
    assert busiest_second(worst) <= rate
    assert busiest_second(wired) <= rate - 1  # the margin is real: R on the dot would trip it
    achieved = (len(wired) - 1) / (wired[-1] - wired[0])
    assert 0.95 * rate <= achieved <= rate


async def test_a_request_that_left_late_counts_from_when_it_left() -> None:
    """A busy loop held the first request of a second 0.3 s on its way: the one let through a
    second after it would reach Telegram within a second of it, so it is held back, and goes
    once the late one's second has passed."""
    loop = asyncio.get_running_loop()
    for late in (False, True):
        pacer = Pacer(4)
        span = pacer.interval * 4  # a rolling second and the margin
        departures = [await pacer.wire() for _ in range(4)]  # at once: the second is full
        first = departures[0]
        assert first is not None and all(departures)
        let_through = first.at
        for departure in departures:
            assert departure is not None
            departure.over()  # their calls ended...
        if late:
            first.left(let_through + 0.3)  # ...the first one's body written 0.3 s late
        await asyncio.sleep(let_through + span + 0.001 - loop.time())
        assert (await pacer.wire() is None) is late
    await asyncio.sleep(let_through + 0.3 + span + 0.001 - loop.time())
    assert await pacer.wire()  # the late one's second has passed
    on_time = Departure(10.0)
    on_time.left(10.0 + LATE / 2)  # within LATE: the margin absorbs it, nothing moves
    assert on_time.at == 10.0 and on_time.settled


async def test_a_request_not_yet_written_after_a_whole_second_holds_the_next_ones() -> None:
    """Its connection being set up again (a lost SYN): it could still leave at any moment, so
    it is not dropped from the rolling second; the next ones wait until it is written."""
    loop = asyncio.get_running_loop()
    pacer = Pacer(2)
    span = pacer.interval * 2
    stuck = await pacer.wire()
    assert stuck is not None
    await asyncio.sleep(pacer.interval)
    second = await pacer.wire()
    assert second is not None
    second.over()
    await asyncio.sleep(stuck.at + span + 0.01 - loop.time())  # a span after the stuck one
    assert await pacer.wire() is None  # held: the stuck one has not left yet
    stuck.left(loop.time())  # written now: it counts from now
    assert await pacer.wire() is None  # now two within the last second (second, stuck)
    await asyncio.sleep(stuck.at + span + 0.001 - loop.time())
    third = await pacer.wire()  # a span after the stuck one left (the first in the window)
    assert third is not None
    assert busiest_second([second.at, stuck.at, third.at]) <= 2


async def test_the_http_client_says_when_a_bulk_request_left(
    fake: FakeTelegram, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through httpx as the bot sends (bot/app.py): the trace of each paced request moves its
    departure to when its body was written; a request outside `send` gets no trace."""
    monkeypatch.setattr("bot.telegram.pacing.LATE", -1.0)  # record every departure
    fake.add_user(7, first_name="Ann")
    pacer, given = Pacer(10), []
    wire = pacer.wire

    async def remembered() -> Departure | None:
        departure = await wire()
        if departure is not None:
            given.append((departure, departure.at))
        return departure

    monkeypatch.setattr(pacer, "wire", remembered)
    traced: list[bool] = []

    async def seen(request: httpx.Request) -> None:  # after ours: what it did to each request
        if request.url.path.endswith("/sendMessage"):
            traced.append("trace" in request.extensions)

    hooks = {"event_hooks": {"request": [*departure_hooks()["request"], seen]}}
    with FakeTelegramServer(fake) as server:
        request = HTTPXRequest(httpx_kwargs=hooks)
        async with Bot(TOKEN, base_url=server.base_url, request=request) as bot:
            result = await send(pacer, lambda: bot.send_message(7, "tip"))
            await bot.send_message(7, "a reply")  # no departure to tell: nothing traced
    assert result.outcome is Outcome.SENT
    [(departure, let_through)] = given
    assert departure.at > let_through and departure.settled  # moved to when the body left
    assert traced == [True, False]


def test_the_bot_sends_through_the_departure_hook(tmp_path: Path) -> None:
    """bot/app.py: the bot's own HTTP client (not a test's) carries the hook."""
    settings = make_settings(tmp_path)
    svc = Services(
        settings,
        load_catalogue(settings.catalogue_path),
        load_texts(settings.texts_dir, settings.default_language),
    )
    request = build_application(svc).bot.request
    assert isinstance(request, HTTPXRequest)
    hooks = request._client.event_hooks["request"]  # PTB's client (private): what httpx runs
    assert departure_hooks()["request"][0] in hooks


async def test_a_closed_pacer_gives_no_more_slots() -> None:
    pacer = Pacer(1)
    assert await pacer.slot()
    waiting = asyncio.create_task(pacer.slot())  # would wait a second
    await asyncio.sleep(0.01)
    pacer.close()
    assert await waiting is False
    assert await pacer.slot() is False


# ----- claims only with a slot in hand -----------------------------------------------------------


async def test_waiting_for_the_budget_is_still_pending(bot: Harness) -> None:
    await make_leads(bot, range(500, 520))
    broadcast_id = await compose_to_all(bot)
    store = bot.svc.store
    assert await store.broadcasts.start(broadcast_id, paid=False) == 20
    bot.svc.broadcaster.bulk.pause(60)  # Telegram asked for a minute: everyone waits
    bot.svc.broadcaster.launch(broadcast_id)
    await asyncio.sleep(0.2)
    assert (await store.broadcasts.progress(broadcast_id)).get("pending") == 20  # none claimed
    await bot.svc.broadcaster.stop()  # a clean stop: nothing claimed, nothing unknown
    progress = await store.broadcasts.progress(broadcast_id)
    assert progress.get("pending") == 20 and "sending" not in progress
    assert not any(received(bot, u) for u in range(500, 520))


async def test_server_errors_retry_on_their_backoff_not_after_the_list(bot: Harness) -> None:
    users = range(600, 660)
    await make_leads(bot, users)
    bot.fake.fail_next("copyMessage", 502, times=2, chat_ids={600})
    broadcast_id = await compose_to_all(bot)

    async def time_flies() -> None:  # 1 s of the bot's clock every 50 ms: a slow first pass
        while True:
            await asyncio.sleep(0.05)
            bot.clock.now += 1

    flying = asyncio.create_task(time_flies())
    try:
        await bot.tap(OWNER, f"bc:go:{broadcast_id}:0")
        await asyncio.wait_for(bot.svc.broadcaster.wait(broadcast_id), 30)
    finally:
        flying.cancel()
    sends = [
        c for c in bot.fake.calls if c.method == "copyMessage" and c.params["chat_id"] in users
    ]
    first = [c.at for c in sends if c.params["chat_id"] == 600]
    assert [c.status for c in sends if c.params["chat_id"] == 600] == [502, 502, 200]
    assert first[1] - first[0] >= 5 and first[2] - first[1] >= 10  # 5 s, then 10 s
    last_of_first_pass = max(i for i, c in enumerate(sends) if c.params["chat_id"] == 659)
    assert sends.index(next(c for c in sends if c.status == 200 and c.params["chat_id"] == 600)) < (
        last_of_first_pass
    )  # the retry did not wait for the end of the list
    assert all(len(received(bot, u)) == 1 for u in users)
