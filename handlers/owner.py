"""Owners in their own chat: mark a lead contacted or won, reply to a lead through the bot."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import Forbidden, TelegramError

from bot import names
from bot.alerts import card_buttons, lead_card
from bot.callbacks import fields, parse_id
from bot.services import Ctx
from bot.store import Event
from handlers.common import ack, clip, say, t, user_id
from handlers.fallback import unknown_button
from handlers.ready import CONVERSATION_SECONDS, STEP_PLAN_GOAL

log = logging.getLogger(__name__)


async def owner_button(update: Update, context: Ctx) -> None:
    """`own:c:<lead>` (contacted) or `own:w:<lead>` (won); to anyone else, an unknown button."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = context.svc
    parts = fields(query.data, "own", 2)
    lead_id = parse_id(parts[1]) if parts else None
    if not svc.is_owner(user_id(update)) or parts is None or lead_id is None:
        await unknown_button(update, context)
        return
    kind = {"c": Event.CONTACTED, "w": Event.WON}.get(parts[0])
    lead = await svc.store.get_lead(lead_id)
    if kind is None or lead is None:
        await unknown_button(update, context)
        return
    lang = svc.owner_lang
    changed = await svc.store.mark_owner_status(lead_id, kind, update.update_id)
    status = t(context, lang, "card_won" if kind is Event.WON else "card_contacted")
    await ack(query, t(context, lang, "owner_marked", status=status))
    if not changed:  # a double tap: the card already says so
        return
    shown = query.message
    headline = shown.text_html.split("\n")[0] if isinstance(shown, Message) and shown.text else ""
    card = await lead_card(svc, lead_id, headline or t(context, lang, "alert_plan"))
    try:
        await query.edit_message_text(card, reply_markup=card_buttons(svc, lead_id))
    except TelegramError as exc:  # "not modified" after a double tap, or a deleted message
        log.debug("lead card not refreshed: %s", exc)


async def _named(update: Update, context: Ctx, text: str, lead_id: int) -> None:
    """A confirmation that names the lead: noted, so an erasure redacts it."""
    shown = await say(update, text)
    await context.svc.store.set_mentions(shown.chat_id, shown.message_id, [lead_id])


async def owner_reply(update: Update, context: Ctx) -> None:
    """An owner replies to a lead alert (or a relayed answer): the text goes to that lead."""
    message = update.effective_message
    assert message is not None and message.reply_to_message is not None
    svc, owner = context.svc, user_id(update)
    lang = svc.owner_lang  # owners read OWNER_LANGUAGE
    lead_id = await svc.store.relay_lead(owner, message.reply_to_message.message_id)
    lead = await svc.store.get_lead(lead_id) if lead_id is not None else None
    if lead is None:
        await say(update, t(context, lang, "relay_not_lead"))
        return
    if not message.text:
        await say(update, t(context, lang, "relay_text_only"))
        return
    name = names.person(lead.first_name, None, lead.user_id)
    if lead.unsubscribed_at is not None or lead.blocked_at is not None:  # they asked for silence
        await _named(update, context, t(context, lang, "relay_failed", name=name), lead.user_id)
        return
    text = t(
        context, svc.texts.lang_for(lead.language), "owner_says", text=clip(message.text, 3900)
    )
    try:
        await context.bot.send_message(lead.user_id, text)
    except (Forbidden, TelegramError) as exc:
        if isinstance(exc, Forbidden):
            await svc.store.mark_blocked(lead.user_id)
        await _named(update, context, t(context, lang, "relay_failed", name=name), lead.user_id)
        return
    await svc.store.open_conversation(lead.user_id, owner, int(svc.clock()) + CONVERSATION_SECONDS)
    session = await svc.store.get_session(lead.user_id)
    if session and session.step == STEP_PLAN_GOAL:  # the conversation takes over from the question
        await svc.store.clear_session(lead.user_id)
    log.info("owner %s wrote to lead %s", owner, lead.user_id)
    await _named(update, context, t(context, lang, "relay_sent", name=name), lead.user_id)
