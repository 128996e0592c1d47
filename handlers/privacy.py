"""Privacy from day one: /privacy, /mydata, /stop, /forget."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from telegram import Update
from telegram.error import TelegramError

from bot.funnel.mydata import mydata_lines
from bot.services import Ctx
from bot.telegram.callback_data import Forget
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
        (t(context, lang, "btn_forget_yes"), Forget(yes=True).pack()),
        (t(context, lang, "btn_forget_no"), Forget(yes=False).pack()),
    )
    await say(update, t(context, lang, "forget_confirm"), reply_markup=keyboard)


async def forget_confirmed(update: Update, context: Ctx) -> None:
    """`fgt:yes` erases the person's data, `fgt:no` keeps it."""
    query = update.callback_query
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    lang = context.lang
    await edit(query)
    if Forget.unpack(query.data) != Forget(yes=True):
        await say(update, t(context, lang, "forget_kept"))
        return
    erased = await _erase(context)
    await say(update, t(context, lang, "forget_done" if erased else "forget_nothing"))


@dataclass
class _Traces:
    """Where owners' chats and the inbox group show the person: found before the erasure,
    which takes the records of them away."""

    shown: list[tuple[int, int]]  # alerts, relays, confirmations: (chat, message)
    mentioned: list[tuple[int, int, str | None]]  # (chat, message, how a /leads page was drawn)
    copies: list[tuple[int, int]]  # their messages copied into owners' chats
    topic: int | None  # their topic in the inbox group


async def _erase(context: Ctx) -> bool:
    """Erase the person, then every trace of them in owners' chats; False if nothing was kept."""
    store, person = context.svc.store, context.user_id
    group = context.svc.settings.inbox_chat_id
    traces = _Traces(
        shown=await store.ready.relays_of(person),
        mentioned=await store.owner.mentions_of(person),
        copies=await store.team.copies_of(person),
        topic=await store.team.topic(person, group) if group is not None else None,
    )
    if not await store.leads.erase(person):
        return False
    log.info("personal data erased on request")
    await _redraw_and_redact(context, traces)
    await _delete_copies(context, traces, group)
    return True


async def _redraw_and_redact(context: Ctx, traces: _Traces) -> None:
    """/leads pages listing the person are drawn again without them; alerts, relayed messages,
    confirmations and notices naming them are replaced."""
    for owner_chat, message_id, how in traces.mentioned:
        if how is not None:
            await console.redraw(context, owner_chat, message_id, how)
    named = traces.shown + [
        (chat, message) for chat, message, how in traces.mentioned if how is None
    ]
    erased = t(context, context.svc.owner_lang, "card_erased")
    for owner_chat, message_id in named:
        try:
            await context.bot.edit_message_text(erased, owner_chat, message_id)
        except TelegramError as exc:
            log.debug("owner message not redacted: %s", exc)


async def _delete_copies(context: Ctx, traces: _Traces, group: int | None) -> None:
    """Copies of their messages (a photo or a voice note cannot be redacted), and their topic
    in the inbox group with everything in it."""
    for owner_chat, message_id in traces.copies:
        try:
            await context.bot.delete_message(owner_chat, message_id)
        except TelegramError as exc:
            log.debug("relayed message not deleted: %s", exc)
    if group is not None and traces.topic is not None:
        try:
            await context.bot.delete_forum_topic(group, traces.topic)
        except TelegramError as exc:
            log.warning("topic %s not deleted after an erasure: %s", traces.topic, exc)
