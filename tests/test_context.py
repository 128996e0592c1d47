"""The per-update context (bot.services.Ctx) and the services wired once (Running)."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram import Update

from bot.content.catalogue import load_catalogue
from bot.content.texts import load_texts
from bot.services import Ctx, Running, Services
from bot.store import Store
from handlers.common import touch
from tests.conftest import OWNER, Harness, make_settings

pytestmark = pytest.mark.usefixtures("backend")  # every test on SQLite and PostgreSQL


ADA = 1001


def context_for(bot: Harness, user: int, language: str | None = None) -> Ctx:
    """The context PTB would build for a message from this user."""
    raw = bot.fake.build_message(user, "hello", language_code=language)
    return Ctx.from_update(Update.de_json(raw, bot.app.bot), bot.app)


async def test_the_person_and_their_language_are_the_updates(bot: Harness) -> None:
    assert context_for(bot, ADA, "fr").user_id == ADA
    assert context_for(bot, ADA, "fr").lang == "fr"
    assert context_for(bot, ADA, "fr-CA").lang == "fr"  # a regional variant of a language we have
    assert context_for(bot, ADA, "de").lang == bot.svc.texts.default  # none for it: the default
    assert context_for(bot, ADA).lang == bot.svc.texts.default


async def test_owners_read_owner_language_whatever_their_app_says(bot: Harness) -> None:
    assert context_for(bot, OWNER, "fr").lang == bot.svc.owner_lang == bot.svc.texts.default


async def test_the_lead_is_read_once_per_update_unless_asked_fresh(bot: Harness) -> None:
    context = context_for(bot, ADA)
    assert await context.lead() is None  # never seen
    await bot.text(ADA, "/start")  # another update creates the lead meanwhile
    assert await context.lead() is None  # this update's reading stands...
    fresh = await context.lead(fresh=True)  # ...until a caller that wrote asks again
    assert fresh is not None and fresh.user_id == ADA
    assert await context_for(bot, ADA).lead() == fresh  # the next update reads it anew


async def test_touch_leaves_the_row_it_wrote_on_the_context(bot: Harness) -> None:
    raw = bot.fake.build_message(ADA, "hello")
    update = Update.de_json(raw, bot.app.bot)
    context = Ctx.from_update(update, bot.app)
    touched = await touch(update, context)
    renamed = await bot.svc.store.leads.touch_visitor(  # a write that changes the row
        ADA,
        first_name="Augusta",
        last_name=None,
        username=None,
        language="en",
        source=None,
        update_id=99,
    )
    assert renamed.first_name == "Augusta" != touched.first_name
    assert await context.lead() is touched  # no second read for this update...
    assert await context.lead(fresh=True) == renamed  # ...unless asked


async def test_services_say_what_is_not_running_yet(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    svc = Services(
        settings,
        load_catalogue(settings.catalogue_path),
        load_texts(settings.texts_dir, settings.default_language),
    )
    with pytest.raises(RuntimeError, match="store is not open yet"):
        _ = svc.store
    store = await Store.open(settings.database_path, svc.clock)
    svc.open(Running(store))  # a store alone (the /stats benchmark): no sender
    assert svc.store is store
    with pytest.raises(RuntimeError, match="broadcaster is not running yet"):
        _ = svc.broadcaster
    with pytest.raises(RuntimeError, match="mailer is not running"):
        _ = svc.mailer
    assert Running(store).pumps == []
    await store.close()
    svc.close()
    with pytest.raises(RuntimeError, match="store is not open yet"):
        _ = svc.store


async def test_post_init_wires_every_sender_and_post_shutdown_unwires_them(bot: Harness) -> None:
    running = bot.svc.running
    assert running is not None and running.store is bot.svc.store
    assert running.nurture is bot.svc.nurture and running.broadcaster is bot.svc.broadcaster
    assert running.mailer is None and running.crm is None  # no SMTP_HOST, no webhook URLs
    assert running.pumps == [running.inbox]
