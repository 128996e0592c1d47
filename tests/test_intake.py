"""Durable intake in process: redelivered updates are skipped, unfinished ones replayed."""

from __future__ import annotations

import json
import logging

import pytest
from telegram import Update

from bot.logs import RedactingFormatter
from bot.store import Event
from bot.telegram.intake import replay_pending
from tests.conftest import Harness

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001


async def test_an_update_delivered_twice_is_applied_once(bot: Harness) -> None:
    await bot.text(ADA, "/start")
    await bot.tap(ADA, "mag:what-to-wear")
    email = bot.fake.build_message(ADA, "ada@example.com")
    await bot.send(email)
    seen = len(bot.chat(ADA))
    await bot.send(email)  # Telegram sends the same update_id again (e.g. after a crash)
    assert len(bot.chat(ADA)) == seen
    assert await bot.svc.store.count_events(Event.LEAD) == 1


async def test_unfinished_updates_are_replayed_then_done(bot: Harness) -> None:
    start = bot.fake.build_message(ADA, "/start flyer")
    # As if a previous process fetched it (and Telegram forgot it) but died before handling.
    await bot.svc.store.intake.save([(start["update_id"], ADA, json.dumps(start))])
    assert await replay_pending(bot.app, bot.svc.store) == 1
    update = await bot.app.update_queue.get()
    assert isinstance(update, Update)
    await bot.app.update_processor.process_update(update, bot.app.process_update(update))
    assert bot.last(ADA).text.startswith("Hello Ada!")
    assert await bot.svc.store.intake.pending() == []
    lead = await bot.svc.store.leads.get(ADA)
    assert lead is not None and lead.first_source == "flyer"


def test_token_is_redacted_from_lines_and_tracebacks() -> None:
    token = "123456:SECRET-token"
    formatter = RedactingFormatter("%(message)s", [token])
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{token}/getMe failed")
    except RuntimeError as exc:
        record = logging.LogRecord("httpx", logging.INFO, __file__, 1, "url %s", (token,), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    line = formatter.format(record)
    assert token not in line and "<token>" in line


async def test_one_person_flooding_does_not_stall_the_others(bot: Harness) -> None:
    import asyncio

    from bot.telegram.intake import IntakeProcessor

    processor = IntakeProcessor(2)  # two slots, like a busy bot
    processor.store = bot.svc.store
    release = asyncio.Event()
    done: list[str] = []

    async def slow(name: str) -> None:
        await release.wait()
        done.append(name)

    async def quick(name: str) -> None:
        done.append(name)

    flood = [Update.de_json(bot.fake.build_message(1, f"spam {n}"), bot.app.bot) for n in range(5)]
    other = Update.de_json(bot.fake.build_message(2, "hello"), bot.app.bot)
    tasks = [
        asyncio.create_task(processor.process_update(u, slow(f"spam{n}")))
        for n, u in enumerate(flood)
    ]
    await asyncio.sleep(0.01)
    await asyncio.wait_for(processor.process_update(other, quick("other")), timeout=1)
    assert done == ["other"]  # served while the flooder's updates wait on their own lock
    release.set()
    await asyncio.gather(*tasks)
    assert done[1:] == [f"spam{n}" for n in range(5)]  # and the flooder's stay in order
