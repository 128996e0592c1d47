"""Double opt-in in chat: the typed code, "Send a new code" and "Change email"."""

from __future__ import annotations

from telegram import Update

from bot.funnel.optin import code_in, code_usable, typed_code
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from bot.store.optin import Verdict
from handlers.capture import STEP_EMAIL, offer
from handlers.codes import STEP_CODE, send_code
from handlers.common import ack, clip, edit, menu_keyboard, say, t


async def live_code(context: Ctx, person: int) -> bool:
    """Whether a code that can still work waits for this person (not expired, not locked)."""
    store, settings = context.svc.store, context.svc.settings
    pending = await store.optin.pending_code(person)
    return code_usable(pending, None, store.now(), settings.optin_max_attempts)


async def code_text(update: Update, context: Ctx, typed: str) -> None:
    """Text while a code is expected: check it, then go on to the question or the PDF."""
    svc, lang, person = context.svc, context.lang, context.user_id
    store, settings = svc.store, svc.settings
    if not settings.double_optin:  # switched off since: no code is needed any more
        session = await store.sessions.get(person)
        magnet = svc.catalogue.get(session.magnet_id or "") if session else None
        await store.sessions.clear(person)
        if magnet is not None:
            await offer(update, context, magnet)
        else:
            await say(
                update, t(context, lang, "fallback"), reply_markup=menu_keyboard(context, lang)
            )
        return
    code = typed_code(typed) or code_in(typed)
    if code is None:
        await say(update, t(context, lang, "expect_code"), reply_markup=code_buttons(svc, lang))
        return
    verdict, left = await store.optin.check_code(person, code, settings.optin_max_attempts)
    lead = await store.leads.get(person)
    email = clip(lead.email or "") if lead else ""
    if verdict is Verdict.NO_CODE and lead is not None and lead.email_verified_at is not None:
        verdict = Verdict.VERIFIED  # typed again, or a replay of the update that verified it
        await say(update, t(context, lang, "code_already"))
    elif verdict is Verdict.VERIFIED:
        await say(update, t(context, lang, "code_verified", email=email))
    else:
        key = {
            Verdict.WRONG: "code_wrong",
            Verdict.LOCKED: "code_locked",
            Verdict.EXPIRED: "code_expired",
            Verdict.NO_CODE: "code_none",
        }[verdict]
        text = t(context, lang, key, left=str(left))
        await say(update, text, reply_markup=code_buttons(svc, lang))
        return
    session = await store.sessions.get(person)
    asked = await store.leads.lead_magnets(person)
    waiting = [m.magnet_id for m in asked if m.delivered_at is None]
    magnet_id = session.magnet_id if session and session.step == STEP_CODE else None
    if magnet_id is None and settings.optin_pdf_waits and waiting:
        magnet_id = waiting[-1]  # after /cancel or a change of mind: the guide still waits
    magnet = svc.catalogue.get(magnet_id or "")
    if magnet is not None and magnet.id in waiting:
        await offer(update, context, magnet)  # the PDF was waiting for this
    elif session is not None and session.step == STEP_CODE:
        await store.sessions.clear(person)


async def code_button(update: Update, context: Ctx) -> None:
    """`otp:new` sends a new code; `otp:chg` asks for another address."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc, lang, person = context.svc, context.lang, context.user_id
    store, settings = svc.store, svc.settings
    lead = await store.leads.get(person)
    if not settings.double_optin or lead is None or lead.email is None:
        await ack(query, t(context, lang, "button_expired"))
        return
    pending = await store.optin.pending_code(person)
    session = await store.sessions.get(person)
    magnet_id = (pending.magnet_id if pending else None) or (session.magnet_id if session else None)
    if magnet_id is None:  # e.g. after the code was verified: the guide they asked for last
        asked = await store.leads.lead_magnets(person)
        magnet_id = asked[-1].magnet_id if asked else None
    if query.data == "otp:chg":
        await ack(query)  # clients show a spinner until the query is answered
        await edit(query)
        magnet = svc.catalogue.get(magnet_id or "")
        if magnet is None:
            await say(update, t(context, lang, "menu"), reply_markup=menu_keyboard(context, lang))
            return
        if lead.unsubscribed_at is not None:  # after /stop: the explicit opt-in question first
            await offer(update, context, magnet)
            return
        prompt = f"{t(context, lang, 'ask_new_email')}\n\n{t(context, lang, 'consent')}"
        await say(update, prompt)  # a new address is a new consent: show what it says
        await store.sessions.set(person, STEP_EMAIL, magnet.id)
        return
    if lead.email_verified_at is not None and pending is None:
        await ack(query, t(context, lang, "code_already"))
        return
    magnet = svc.catalogue.get(magnet_id or "")
    if lead.unsubscribed_at is not None:  # after /stop: the explicit opt-in question first
        await ack(query)
        if magnet is not None:
            await offer(update, context, magnet)
        return
    wait = (pending.issued_at + settings.optin_resend_seconds - store.now()) if pending else 0
    if wait > 0:
        await ack(query, t(context, lang, "code_wait", seconds=str(wait)))
        return
    await ack(query)
    await edit(query)
    if await send_code(update, context, magnet_id, lead.email, prompt="code_resent"):
        waits = settings.optin_pdf_waits and magnet_id is not None
        if waits and session is None:  # e.g. after /cancel: the typed code is expected again
            await store.sessions.set(person, STEP_CODE, magnet_id)
