"""Entry points (/start with deep links, /magnets, /help, /cancel) and the router: a message
goes to what its step expects (TEXT_ROUTES, OTHER_ROUTES; the README draws them)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram import Update

from bot.content.catalogue import Magnet
from bot.funnel.intent import Ask, find_request
from bot.funnel.optin import typed_code
from bot.funnel.reasons import wrote
from bot.funnel.rules import parse_payload
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from bot.store.sessions import Session
from handlers import inbox
from handlers.broadcast_compose import STEP_BROADCAST, received
from handlers.capture import STEP_ANSWER, STEP_EMAIL, STEP_EMAIL_CONFIRM, email_text, offer
from handlers.codes import STEP_CODE
from handlers.common import clip, menu_keyboard, say, t, touch
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
    svc, lang = context.svc, context.lang
    payload = " ".join(context.args) if context.args else None  # a deep link has no spaces
    link = parse_payload(payload, {m.id for m in svc.catalogue.magnets})
    lead = await touch(update, context, link.source)
    await svc.store.sessions.clear(lead.user_id)
    log.info("start from %s (source %s, magnet %s)", lead.user_id, link.source, link.magnet_id)
    name = clip(update.effective_user.first_name if update.effective_user else "", 64)
    magnet = svc.catalogue.get(link.magnet_id) if link.magnet_id else None
    if magnet is not None:  # a magnet link opens straight on that magnet
        await offer(update, context, magnet, link.source, lead)  # touched just now
        return
    await say(
        update, t(context, lang, "welcome", name=name), reply_markup=menu_keyboard(context, lang)
    )


async def magnets(update: Update, context: Ctx) -> None:
    """/magnets: the menu again."""
    lang = context.lang
    await touch(update, context)
    await say(update, t(context, lang, "menu"), reply_markup=menu_keyboard(context, lang))


async def help_command(update: Update, context: Ctx) -> None:
    """/help: what the bot can do."""
    await say(update, t(context, context.lang, "help"))


async def cancel(update: Update, context: Ctx) -> None:
    """/cancel: leave the current step."""
    lang = context.lang
    left = await context.svc.store.sessions.clear(context.user_id)
    await say(update, t(context, lang, "cancelled" if left else "nothing_to_cancel"))


@dataclass(frozen=True)
class Said:
    """What the person sent, with the step the conversation is in (None: no step)."""

    text: str  # "" for a sticker, a photo, a voice note...
    session: Session | None
    magnet: Magnet | None  # the magnet that step is about, if it still exists

    @property
    def step(self) -> str | None:
        """The step the conversation waits in."""
        return self.session.step if self.session else None

    @property
    def typed(self) -> bool:
        """Text, as opposed to a sticker, a photo, a voice note..."""
        return bool(self.text)


Route = Callable[[Update, Ctx, Said], Awaitable[None]]


async def _said(update: Update, context: Ctx) -> Said:
    """The message and the step it arrives in."""
    message = update.effective_message
    session = await context.svc.store.sessions.get(context.user_id)
    magnet = context.svc.catalogue.get(session.magnet_id or "") if session else None
    return Said((message.text if message else None) or "", session, magnet)


async def text(update: Update, context: Ctx) -> None:
    """Typed text: what the current step expects (TEXT_ROUTES), else `_free_text`."""
    said = await _said(update, context)
    await TEXT_ROUTES.get(said.step, _free_text)(update, context, said)


async def not_text(update: Update, context: Ctx) -> None:
    """A sticker, photo, voice...: what the current step expects (OTHER_ROUTES), else the team."""
    said = await _said(update, context)
    await OTHER_ROUTES.get(said.step, _to_team)(update, context, said)


# Cross-step rules: what a person types is not always what the step asked for.


async def _code_typed(context: Ctx, said: Said) -> bool:
    """Six digits while a code that can still work waits (else a reply, a postcode...)."""
    if not context.svc.settings.double_optin or typed_code(said.text) is None:
        return False
    return await live_code(context, context.user_id)


async def _while_email(update: Update, context: Ctx, said: Said) -> None:
    """An email is expected; a live code typed instead means the mail arrived after all."""
    if await _code_typed(context, said):
        await code_text(update, context, said.text)
    elif said.magnet is not None:
        await email_text(update, context, said.magnet)
    else:  # the magnet left the catalogue since
        await _free_text(update, context, said)


async def _while_code(update: Update, context: Ctx, said: Said) -> None:
    """A code is expected; an address typed instead is a change of address."""
    if said.magnet is not None and "@" in said.text:
        await email_text(update, context, said.magnet)
    else:
        await code_text(update, context, said.text)


async def _while_answer(update: Update, context: Ctx, said: Said) -> None:
    """A button answer is expected: a live code still counts, anything else is reminded."""
    if await _code_typed(context, said):
        await code_text(update, context, said.text)
    elif said.magnet is not None:
        await say(update, t(context, context.lang, "expect_answer"))
    else:
        await _free_text(update, context, said)


async def _plan_goal(update: Update, context: Ctx, said: Said) -> None:
    """The goal for the plan just requested."""
    await goal_text(update, context, said.text)


async def _contact(update: Update, context: Ctx, said: Said) -> None:
    """The message /contact asked for."""
    await contact_text(update, context, said.text)


async def _composing(update: Update, context: Ctx, said: Said) -> None:
    """An owner composing a broadcast: any message is its content (text, photo, voice...)."""
    if said.session is not None and context.svc.is_owner(context.user_id):
        await received(update, context, said.session.data)
    elif said.typed:
        await _free_text(update, context, said)
    else:
        await _to_team(update, context, said)


async def _no_step(update: Update, context: Ctx, said: Said) -> None:
    """No step: a live code is still the code, else `_free_text`."""
    if await _code_typed(context, said):
        await code_text(update, context, said.text)
    else:
        await _free_text(update, context, said)


async def _free_text(update: Update, context: Ctx, said: Said) -> None:
    """Text no step expects: a plan or contact phrase, else a message for the team."""
    asked = find_request(said.text)
    if asked and asked.ask is Ask.PLAN:
        await request_plan(update, context, wrote(asked.phrase))
    elif asked:  # an appointment, a call, a quote: the owners get the message itself
        await contact_text(update, context, said.text, wrote(asked.phrase))
    else:  # a question, a reply to a tip or broadcast
        await _to_team(update, context, said)


async def _to_team(update: Update, context: Ctx, said: Said) -> None:
    """A message for the team (the inbox); if it is not one, the menu."""
    if await inbox.to_team(update, context):
        return
    lang = context.lang
    menu = menu_keyboard(context, lang) if said.typed else None  # typed text gets the menu
    await say(update, t(context, lang, "fallback"), reply_markup=menu)


def _expect(key: str) -> Route:
    """A reminder of what the step waits for (a sticker cannot be an email)."""

    async def remind(update: Update, context: Ctx, said: Said) -> None:
        await say(update, t(context, context.lang, key))

    return remind


async def _expect_code(update: Update, context: Ctx, said: Said) -> None:
    """A code is expected: say so with the buttons the text speaks of (new code, change)."""
    if not context.svc.settings.double_optin:  # switched off since: no code is expected
        await _to_team(update, context, said)
        return
    svc, lang = context.svc, context.lang
    await say(update, t(context, lang, "expect_code"), reply_markup=code_buttons(svc, lang))


# The conversation, step by step (the README draws it): who handles a message in each step.
TEXT_ROUTES: dict[str | None, Route] = {
    None: _no_step,
    STEP_EMAIL: _while_email,
    STEP_EMAIL_CONFIRM: _while_email,
    STEP_CODE: _while_code,
    STEP_ANSWER: _while_answer,
    STEP_PLAN_GOAL: _plan_goal,
    STEP_CONTACT: _contact,
    STEP_BROADCAST: _composing,
}
OTHER_ROUTES: dict[str | None, Route] = {
    STEP_EMAIL: _expect("expect_email"),
    STEP_EMAIL_CONFIRM: _expect("expect_email"),
    STEP_CODE: _expect_code,
    STEP_ANSWER: _expect("expect_answer"),
    STEP_CONTACT: _expect("expect_contact"),
    STEP_BROADCAST: _composing,
}
