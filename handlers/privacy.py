"""Privacy from day one: /privacy, /mydata, /stop, /forget."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError

from bot.funnel.mydata import mydata_lines
from bot.services import Ctx
from handlers import console
from handlers.common import ack, buttons, chunks, edit, say, t

log = logging.getLogger(__name__)


async def privacy(update: Update, context: Ctx) -> None:
    """/privacy: what is stored and why."""
    await say(update, t(context, context.lang, "privacy"))


async def mydata(update: Update, context: Ctx) -> None:
    """/mydata: everything stored about the person, as they would read it."""
    lang = context.lang
    lines = await mydata_lines(context.svc, context.user_id, lang)
    if lines is None:
        await say(update, t(context, lang, "mydata_none"))
        return
    for chunk in chunks(lines, 3900):  # everything, over as many messages as it takes
        await say(update, chunk)


async def stop(update: Update, context: Ctx) -> None:
    """/stop (and the stop button): no more messages from the business until a new opt-in."""
    svc, lang = context.svc, context.lang
    person = context.user_id
    await svc.store.sessions.clear(person)
    done = await svc.store.leads.unsubscribe(person, update.update_id)
    if done:
        log.info("unsubscribed: %s", person)
    await say(update, t(context, lang, "stop_done" if done else "stop_already"))


async def forget(update: Update, context: Ctx) -> None:
    """/forget: ask for confirmation before erasing."""
    lang = context.lang
    keyboard = buttons(
        (t(context, lang, "btn_forget_yes"), "fgt:yes"),
        (t(context, lang, "btn_forget_no"), "fgt:no"),
    )
    await say(update, t(context, lang, "forget_confirm"), reply_markup=keyboard)


async def forget_confirmed(update: Update, context: Ctx) -> None:
    """`fgt:yes` erases the person's data, `fgt:no` keeps it."""
    query = update.callback_query
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    lang = context.lang
    await edit(query)
    if query.data != "fgt:yes":
        await say(update, t(context, lang, "forget_kept"))
        return
    store, person = context.svc.store, context.user_id
    shown_to_owners = await store.ready.relays_of(person)
    mentioned = await store.owner.mentions_of(person)
    copies = await store.team.copies_of(person)  # their messages copied into owners' chats
    group = context.svc.settings.inbox_chat_id
    topic = await store.team.topic(person, group) if group is not None else None
    erased = await store.leads.erase(person)
    if erased:
        log.info("personal data erased on request")
        # /leads pages that list the person are drawn again without them.
        for owner_chat, message_id, how in mentioned:
            if how is not None:
                await console.redraw(context, owner_chat, message_id, how)
        # Alerts, relayed messages, confirmations and notices in owners' chats name the
        # person: replace them.
        shown_to_owners += [(chat, message) for chat, message, how in mentioned if how is None]
        for owner_chat, message_id in shown_to_owners:
            try:
                await context.bot.edit_message_text(
                    t(context, context.svc.owner_lang, "card_erased"), owner_chat, message_id
                )
            except TelegramError as exc:
                log.debug("owner message not redacted: %s", exc)
        for owner_chat, message_id in copies:  # a photo or a voice note cannot be redacted
            try:
                await context.bot.delete_message(owner_chat, message_id)
            except TelegramError as exc:
                log.debug("relayed message not deleted: %s", exc)
        if group is not None and topic is not None:  # their topic, with everything in it
            try:
                await context.bot.delete_forum_topic(group, topic)
            except TelegramError as exc:
                log.warning("topic %s not deleted after an erasure: %s", topic, exc)
    await say(update, t(context, lang, "forget_done" if erased else "forget_nothing"))
