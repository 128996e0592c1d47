"""The team inbox in chats: a person's message for the team, a team member's answer (a reply
in an owner's chat, or any message in the person's topic of the inbox group)."""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import TelegramError

from bot.inbox.relay import inbox_lines, is_note, may_answer, relayable
from bot.services import Ctx
from bot.store import Lead
from bot.telegram import names
from bot.telegram.callback_data import InboxDone
from handlers.common import ack, chat_id, known, say, show, t
from handlers.fallback import owners_tap
from handlers.ready import STEP_PLAN_GOAL

log = logging.getLogger(__name__)


async def to_team(update: Update, context: Ctx) -> bool:
    """A person's message that no step expects: queued for the team, acknowledged once in a
    while. False when it is not for the team (an owner's own message, nothing to copy)."""
    svc, message, person = context.svc, update.effective_message, context.user_id
    group = svc.settings.inbox_chat_id
    to = [group] if group is not None else list(svc.settings.owner_ids)
    if message is None or svc.is_owner(person) or not to or not relayable(message):
        return False
    await known(update, context)  # someone who wrote before any /start is created
    ack = await svc.store.team.message_in(
        person,
        chat_id(update),
        message.message_id,
        to,
        update.update_id,
        svc.settings.inbox_ack_hours * 3600,
    )
    svc.inbox.kick()  # committed: the sender copies it now, the chat does not wait
    log.info("message from %s queued for the team", person)
    if ack:
        await say(update, t(context, context.lang, "inbox_ack"))
    return True


async def team_reply(update: Update, context: Ctx) -> None:
    """An owner replies to a relayed message, its header or a lead alert: the reply, any kind,
    is queued for that person (a `#note` stays in the team)."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    svc, lang = context.svc, context.svc.owner_lang
    person = await svc.store.team.person_of(chat_id(update), message.reply_to_message.message_id)
    lead = await svc.store.leads.get(person) if person is not None else None
    if person is None or lead is None:  # a message redacted after an erasure says so
        erased = message.reply_to_message.text == t(context, lang, "card_erased")
        await say(update, t(context, lang, "inbox_not_sent_erased" if erased else "relay_not_lead"))
        return
    await _answer(update, context, lead)


async def in_topic(update: Update, context: Ctx) -> None:
    """A team member writes in a person's topic of the inbox group: the answer for them."""
    message = update.effective_message
    assert message is not None
    thread = message.message_thread_id if message.is_topic_message else None
    person = await context.svc.store.team.person_in_topic(chat_id(update), thread or 0)
    lead = await context.svc.store.leads.get(person) if person is not None else None
    if lead is None:  # the General topic, or a topic that is no one's: team chatter
        return
    await _answer(update, context, lead)


async def _answer(update: Update, context: Ctx, lead: Lead) -> None:
    """Queue a team message for the person, unless it is a note or they asked for silence."""
    message = update.effective_message
    assert message is not None
    svc, lang, person = context.svc, context.svc.owner_lang, lead.user_id
    if is_note(message.text or message.caption) or not relayable(message):
        return  # a note for the team, or nothing to copy
    if not may_answer(lead.unsubscribed_at, await svc.store.team.last_in(person)):
        name = names.person(lead.first_name, None, lead.user_id)
        shown = await message.reply_text(t(context, lang, "relay_failed", name=name))  # topic
        await svc.store.owner.set_mentions(shown.chat_id, shown.message_id, [lead.user_id])
        return
    await svc.store.team.answer(person, chat_id(update), message.message_id, update.update_id)
    svc.inbox.kick()
    session = await svc.store.sessions.get(person)
    if session and session.step == STEP_PLAN_GOAL:  # the conversation takes over from the question
        await svc.store.sessions.clear(person)
    log.info("team member %s answered %s", context.user_id, person)


INBOX_SHOWN = 20  # conversations listed (and Done buttons) in one /inbox message


async def _inbox_view(context: Ctx) -> tuple[str, InlineKeyboardMarkup | None, list[int]]:
    """The /inbox message: its text, its Done buttons, the people it names."""
    svc = context.svc
    waiting = await svc.store.team.waiting(svc.settings.inbox_chat_id, INBOX_SHOWN)
    text = "\n".join(inbox_lines(svc, waiting, svc.clock()))
    done = [
        InlineKeyboardButton(
            t(context, svc.owner_lang, "btn_inbox_done", n=str(n)),
            callback_data=InboxDone(w.person).pack(),
        )
        for n, w in enumerate(waiting, 1)
    ]
    rows = [done[i : i + 5] for i in range(0, len(done), 5)]
    return text, InlineKeyboardMarkup(rows) if rows else None, [w.person for w in waiting]


async def inbox_command(update: Update, context: Ctx) -> None:
    """/inbox (owners): conversations waiting for an answer, oldest first, with Done buttons."""
    text, keyboard, named = await _inbox_view(context)
    shown = await show(update, text, reply_markup=keyboard)
    await context.svc.store.owner.set_mentions(shown.chat_id, shown.message_id, named)


async def done_button(update: Update, context: Ctx) -> None:
    """`inb:<person>`: the conversation is handled without an answer; the list is redrawn."""
    query = update.callback_query
    assert query is not None
    tapped = await owners_tap(update, context, InboxDone)
    if tapped is None:
        return
    await context.svc.store.team.done(tapped.person)
    await ack(query, t(context, context.svc.owner_lang, "inbox_marked_done"))
    text, keyboard, named = await _inbox_view(context)
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except TelegramError as exc:  # "not modified" after a double tap
        log.debug("inbox not redrawn: %s", exc)
    if isinstance(query.message, Message):
        await context.svc.store.owner.set_mentions(
            query.message.chat_id, query.message.message_id, named
        )
