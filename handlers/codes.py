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
    """Queue a new code for `email` and say so; False if none can go (refused, today's limit)."""
    store, person = context.svc.store, context.user_id
    refused = await store.optin.refused_before(person, email)
    if refused is not None:  # it would be refused again: another address is needed
        why = clip(refused, 200)
        await _say(update, context, "mail_refused", False, email=clip(email), reason=why)
        return False
    if prompt != "code_resent" and await _on_its_way(context, email):
        # The same address again, just now: the code on its way still works.
        await _say(update, context, "code_waiting", True, email=clip(email))
        return True
    if await store.optin.codes_since(person, email, store.now() - 86400) >= MAX_CODES_PER_DAY:
        await _say(update, context, "code_limit", False)
        return False
    await _issue(update, context, magnet_id, email)
    texts, ttl = context.svc.texts, context.svc.settings.optin_code_minutes
    minutes = texts.count(context.lang, "minutes", ttl)  # "1 minute", "10 minutes"
    await _say(update, context, prompt, True, email=clip(email), minutes=minutes)
    return True


async def _on_its_way(context: Ctx, email: str) -> bool:
    """A code for this address, still usable, issued less than OPTIN_RESEND_SECONDS ago."""
    store, settings = context.svc.store, context.svc.settings
    pending, now = await store.optin.pending_code(context.user_id), store.now()
    return (
        code_usable(pending, email, now, settings.optin_max_attempts)
        and pending is not None
        and pending.issued_at + settings.optin_resend_seconds > now
    )


async def _issue(update: Update, context: Ctx, magnet_id: str | None, email: str) -> None:
    """Store a new code with its mail; the mail leaves in the background."""
    svc = context.svc
    issued = await svc.store.optin.issue_code(
        context.user_id,
        email,
        new_code(),
        magnet_id=magnet_id,
        language=context.lang,
        ttl_seconds=svc.settings.optin_code_minutes * 60,
        update_id=update.update_id,
    )
    if issued:
        svc.mailer.kick()  # the chat never waits for the mail server


async def _say(update: Update, context: Ctx, key: str, resend: bool, **values: str) -> None:
    """A code message, with "Change email" and, if `resend`, "Send a new code"."""
    svc, lang = context.svc, context.lang
    keyboard = code_buttons(svc, lang, resend=resend)
    await say(update, t(context, lang, key, **values), reply_markup=keyboard)
