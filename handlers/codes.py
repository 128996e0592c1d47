"""Issuing a verification code in chat (double opt-in); the mail leaves in the background."""

from __future__ import annotations

from telegram import Update

from bot.funnel.optin import MAX_CODES_PER_DAY, code_usable, new_code
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from handlers.common import clip, say, t

STEP_CODE = "code"


async def send_code(
    update: Update, context: Ctx, magnet_id: str | None, email: str, prompt: str = "code_sent"
) -> bool:
    """Queue a new code for `email` and say so; False if today's limit is reached."""
    svc, lang, person = context.svc, context.lang, context.user_id
    store, settings = svc.store, svc.settings
    refused = await store.optin.refused_before(person, email)
    if refused is not None:  # it would be refused again: another address is needed
        text = t(context, lang, "mail_refused", email=clip(email), reason=clip(refused, 200))
        await say(update, text, reply_markup=code_buttons(svc, lang, resend=False))
        return False
    pending = await store.optin.pending_code(person)
    now = store.now()
    if (
        prompt != "code_resent"
        and code_usable(pending, email, now, settings.optin_max_attempts)
        and pending is not None
        and pending.issued_at + settings.optin_resend_seconds > now
    ):  # the same address again, just now: the code on its way still works
        text = t(context, lang, "code_waiting", email=clip(email))
        await say(update, text, reply_markup=code_buttons(svc, lang))
        return True
    if await store.optin.codes_since(person, email, store.now() - 86400) >= MAX_CODES_PER_DAY:
        text = t(context, lang, "code_limit")
        await say(update, text, reply_markup=code_buttons(svc, lang, resend=False))
        return False
    issued = await store.optin.issue_code(
        person,
        email,
        new_code(),
        magnet_id=magnet_id,
        language=lang,
        ttl_seconds=settings.optin_code_minutes * 60,
        update_id=update.update_id,
    )
    if issued:
        svc.mailer.kick()  # the chat never waits for the mail server
    minutes = svc.texts.count(lang, "minutes", settings.optin_code_minutes)  # "1 minute"
    text = t(context, lang, prompt, email=clip(email), minutes=minutes)
    await say(update, text, reply_markup=code_buttons(svc, lang))
    return True
