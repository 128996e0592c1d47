"""Entry points: /start (with deep links), /magnets, /help, /cancel, and typed text."""

from __future__ import annotations

import logging

from telegram import Update

from bot.funnel.intent import Ask, find_request
from bot.funnel.optin import typed_code
from bot.funnel.reasons import wrote
from bot.funnel.rules import parse_payload
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from handlers import inbox
from handlers.broadcast_compose import STEP_BROADCAST, received
from handlers.capture import STEP_ANSWER, STEP_EMAIL, STEP_EMAIL_CONFIRM, email_text, offer
from handlers.codes import STEP_CODE
from handlers.common import clip, lang_of, menu_keyboard, say, t, touch, user_id
from handlers.optin import code_text, live_code
from handlers.ready import (
    STEP_CONTACT,
    STEP_PLAN_GOAL,
    contact_text,
    goal_text,
    request_plan,
)

log = logging.getLogger(__name__)


async def start(update: Update, context: Ctx) -> None:
    """/start [payload]: welcome, keep the first source, open the menu or the linked magnet."""
    svc, lang = context.svc, lang_of(update, context)
    payload = " ".join(context.args) if context.args else None  # a deep link has no spaces
    link = parse_payload(payload, {m.id for m in svc.catalogue.magnets})
    lead = await touch(update, context, link.source)
    await svc.store.sessions.clear(lead.user_id)
    log.info("start from %s (source %s, magnet %s)", lead.user_id, link.source, link.magnet_id)
    name = clip(update.effective_user.first_name if update.effective_user else "", 64)
    magnet = svc.catalogue.get(link.magnet_id) if link.magnet_id else None
    if magnet is not None:  # a magnet link opens straight on that magnet
        await offer(update, context, magnet, link.source)
        return
    await say(
        update, t(context, lang, "welcome", name=name), reply_markup=menu_keyboard(context, lang)
    )


async def magnets(update: Update, context: Ctx) -> None:
    """/magnets: the menu again."""
    lang = lang_of(update, context)
    await touch(update, context)
    await say(update, t(context, lang, "menu"), reply_markup=menu_keyboard(context, lang))


async def help_command(update: Update, context: Ctx) -> None:
    """/help: what the bot can do."""
    await say(update, t(context, lang_of(update, context), "help"))


async def cancel(update: Update, context: Ctx) -> None:
    """/cancel: leave the current step."""
    lang = lang_of(update, context)
    left = await context.svc.store.sessions.clear(user_id(update))
    await say(update, t(context, lang, "cancelled" if left else "nothing_to_cancel"))


async def text(update: Update, context: Ctx) -> None:
    """Typed text: what the current step expects, a plan request, else a message for the team."""
    svc, lang = context.svc, lang_of(update, context)
    person = user_id(update)
    typed = update.effective_message.text or ""  # type: ignore[union-attr]
    session = await svc.store.sessions.get(person)
    magnet = svc.catalogue.get(session.magnet_id or "") if session else None
    step = session.step if session else None
    asked = find_request(typed)
    code_now = svc.settings.double_optin and typed_code(typed) is not None
    if step in (STEP_EMAIL, STEP_EMAIL_CONFIRM) and code_now and await live_code(context, person):
        await code_text(update, context, typed)  # the mail arrived after all: that address
    elif (magnet and step in (STEP_EMAIL, STEP_EMAIL_CONFIRM)) or (
        step == STEP_CODE and magnet and "@" in typed
    ):
        await email_text(update, context, magnet)
    elif step == STEP_CODE or (
        step in (None, STEP_ANSWER) and code_now and await live_code(context, person)
    ):  # six digits while a code waits: the code (else a reply, a postcode, a budget...)
        await code_text(update, context, typed)
    elif magnet and step == STEP_ANSWER:
        await say(update, t(context, lang, "expect_answer"))
    elif step == STEP_PLAN_GOAL:
        await goal_text(update, context, typed)
    elif step == STEP_CONTACT:
        await contact_text(update, context, typed)
    elif step == STEP_BROADCAST and svc.is_owner(person) and session:
        await received(update, context, session.data)
    elif asked and asked.ask is Ask.PLAN:
        await request_plan(update, context, wrote(asked.phrase))
    elif asked:  # an appointment, a call, a quote: the owners get the message itself
        await contact_text(update, context, typed, wrote(asked.phrase))
    elif await inbox.to_team(update, context):  # a question, a reply to a tip or broadcast
        return
    else:
        await say(update, t(context, lang, "fallback"), reply_markup=menu_keyboard(context, lang))


async def not_text(update: Update, context: Ctx) -> None:
    """A sticker, photo, voice...: what the current step expects, else a message for the team."""
    svc, lang = context.svc, lang_of(update, context)
    session = await svc.store.sessions.get(user_id(update))
    step = session.step if session else None
    if step == STEP_CODE and not svc.settings.double_optin:
        step = None  # double opt-in was switched off since: no code is expected
    if step == STEP_BROADCAST and session and svc.is_owner(user_id(update)):
        await received(update, context, session.data)  # a photo, a voice note... to broadcast
        return
    if step == STEP_CODE:  # with the buttons the text speaks of
        await say(update, t(context, lang, "expect_code"), reply_markup=code_buttons(svc, lang))
        return
    key = {
        STEP_EMAIL: "expect_email",
        STEP_EMAIL_CONFIRM: "expect_email",
        STEP_ANSWER: "expect_answer",
        STEP_CONTACT: "expect_contact",
    }.get(step or "")
    if key is None and await inbox.to_team(update, context):  # no step waits for it: the team
        return
    await say(update, t(context, lang, key or "fallback"))
