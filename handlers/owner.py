"""Owners in their own chat: mark a lead contacted or won (answers: handlers/inbox.py)."""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import TelegramError

from bot.owner.alerts import card_buttons, lead_card
from bot.services import Ctx
from bot.store import Event
from bot.telegram.callback_data import OwnerMark
from handlers.common import ack, t
from handlers.fallback import owners_tap, unknown_button

log = logging.getLogger(__name__)


async def owner_button(update: Update, context: Ctx) -> None:
    """`own:c:<lead>` (contacted) or `own:w:<lead>` (won); to anyone else, an unknown button."""
    query = update.callback_query
    assert query is not None
    tapped = await owners_tap(update, context, OwnerMark)
    if tapped is None:
        return
    svc = context.svc
    lead_id, kind = tapped.lead_id, {"c": Event.CONTACTED, "w": Event.WON}[tapped.action]
    if await svc.store.leads.get(lead_id) is None:  # erased since, or a forged id
        await unknown_button(update, context)
        return
    lang = svc.owner_lang
    changed = await svc.store.ready.mark_owner_status(lead_id, kind, update.update_id)
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
