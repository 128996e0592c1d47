"""Double opt-in in chat: the typed code, "Send a new code" and "Change email"."""

from __future__ import annotations

from telegram import Update

from bot.funnel.optin import code_in, code_usable, typed_code
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from bot.store import Lead
from bot.store.optin import PendingCode, Verdict
from bot.telegram.callback_data import CodeButton
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
    if not context.svc.settings.double_optin:  # switched off since: no code is needed any more
        await _no_code_needed(update, context)
        return
    code = typed_code(typed) or code_in(typed)
    if code is None:
        await _say_with_code_buttons(update, context, "expect_code")
        return
    if await _checked(update, context, code):
        await _after_code(update, context)


async def _no_code_needed(update: Update, context: Ctx) -> None:
    """Double opt-in was switched off while a code waited: on to the magnet, or the menu."""
    svc, lang, person = context.svc, context.lang, context.user_id
    session = await svc.store.sessions.get(person)
    magnet = svc.catalogue.get(session.magnet_id or "") if session else None
    await svc.store.sessions.clear(person)
    if magnet is not None:
        await offer(update, context, magnet)
    else:
        await say(update, t(context, lang, "fallback"), reply_markup=menu_keyboard(context, lang))


async def _say_with_code_buttons(update: Update, context: Ctx, key: str, **values: str) -> None:
    """A code message with its buttons ("Send a new code", "Change email")."""
    svc, lang = context.svc, context.lang
    await say(update, t(context, lang, key, **values), reply_markup=code_buttons(svc, lang))


CODE_REFUSED = {
    Verdict.WRONG: "code_wrong",
    Verdict.LOCKED: "code_locked",
    Verdict.EXPIRED: "code_expired",
    Verdict.NO_CODE: "code_none",
}


async def _checked(update: Update, context: Ctx, code: str) -> bool:
    """Check the code and say how it went; True if the address is verified (now or before)."""
    svc, lang, person = context.svc, context.lang, context.user_id
    verdict, left = await svc.store.optin.check_code(person, code, svc.settings.optin_max_attempts)
    lead = await context.lead(fresh=True)  # a verified code has just changed it
    verified_before = lead is not None and lead.email_verified_at is not None
    if verdict is Verdict.NO_CODE and verified_before:  # typed again, or a replayed update
        await say(update, t(context, lang, "code_already"))
    elif verdict is Verdict.VERIFIED:
        email = clip(lead.email or "") if lead else ""
        await say(update, t(context, lang, "code_verified", email=email))
    else:
        await _say_with_code_buttons(update, context, CODE_REFUSED[verdict], left=str(left))
        return False
    return True


async def _after_code(update: Update, context: Ctx) -> None:
    """Verified: the guide that waited for the code (the step's, else the latest waiting one
    with OPTIN_PDF_WAITS, e.g. after /cancel), or just the end of the code step."""
    svc, person = context.svc, context.user_id
    session = await svc.store.sessions.get(person)
    in_code_step = session is not None and session.step == STEP_CODE
    asked = await svc.store.leads.lead_magnets(person)
    waiting = [m.magnet_id for m in asked if m.delivered_at is None]
    magnet_id = session.magnet_id if session and in_code_step else None
    if magnet_id is None and svc.settings.optin_pdf_waits and waiting:
        magnet_id = waiting[-1]  # after /cancel or a change of mind: the guide still waits
    magnet = svc.catalogue.get(magnet_id or "")
    if magnet is not None and magnet.id in waiting:
        await offer(update, context, magnet)  # the PDF was waiting for this
    elif in_code_step:
        await svc.store.sessions.clear(person)


async def code_button(update: Update, context: Ctx) -> None:
    """`otp:new` sends a new code; `otp:chg` asks for another address."""
    query = update.callback_query
    assert query is not None
    lead = await context.lead()
    if not context.svc.settings.double_optin or lead is None or lead.email is None:
        await ack(query, t(context, context.lang, "button_expired"))
        return
    pending = await context.svc.store.optin.pending_code(context.user_id)
    magnet_id = await _code_magnet(context, pending)
    if CodeButton.unpack(query.data) == CodeButton("chg"):
        await _change_email(update, context, lead, magnet_id)
    else:
        await _new_code(update, context, lead, pending, magnet_id)


async def _code_magnet(context: Ctx, pending: PendingCode | None) -> str | None:
    """The guide the code is for: the pending code's, the step's, else the latest asked for
    (e.g. after the code was verified)."""
    store, person = context.svc.store, context.user_id
    if pending is not None and pending.magnet_id is not None:
        return pending.magnet_id
    session = await store.sessions.get(person)
    if session is not None and session.magnet_id is not None:
        return session.magnet_id
    asked = await store.leads.lead_magnets(person)
    return asked[-1].magnet_id if asked else None


async def _change_email(update: Update, context: Ctx, lead: Lead, magnet_id: str | None) -> None:
    """`otp:chg`: ask for another address (a new consent), or the opt-in question after /stop."""
    query, lang = update.callback_query, context.lang
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    await edit(query)
    magnet = context.svc.catalogue.get(magnet_id or "")
    if magnet is None:
        await say(update, t(context, lang, "menu"), reply_markup=menu_keyboard(context, lang))
    elif lead.unsubscribed_at is not None:  # after /stop: the explicit opt-in question first
        await offer(update, context, magnet)
    else:
        prompt = f"{t(context, lang, 'ask_new_email')}\n\n{t(context, lang, 'consent')}"
        await say(update, prompt)  # a new address is a new consent: show what it says
        await context.svc.store.sessions.set(context.user_id, STEP_EMAIL, magnet.id)


async def _new_code(
    update: Update,
    context: Ctx,
    lead: Lead,
    pending: PendingCode | None,
    magnet_id: str | None,
) -> None:
    """`otp:new`: another code, unless verified already, after /stop, or asked too soon."""
    query, lang = update.callback_query, context.lang
    assert query is not None and lead.email is not None
    svc, store, settings = context.svc, context.svc.store, context.svc.settings
    if lead.email_verified_at is not None and pending is None:
        await ack(query, t(context, lang, "code_already"))
        return
    if lead.unsubscribed_at is not None:  # after /stop: the explicit opt-in question first
        await ack(query)
        magnet = svc.catalogue.get(magnet_id or "")
        if magnet is not None:
            await offer(update, context, magnet)
        return
    wait = (pending.issued_at + settings.optin_resend_seconds - store.now()) if pending else 0
    if wait > 0:
        await ack(query, t(context, lang, "code_wait", seconds=str(wait)))
        return
    await ack(query)
    await edit(query)
    session = await store.sessions.get(context.user_id)
    if await send_code(update, context, magnet_id, lead.email, prompt="code_resent"):
        waits = settings.optin_pdf_waits and magnet_id is not None
        if waits and session is None:  # e.g. after /cancel: the typed code is expected again
            await store.sessions.set(context.user_id, STEP_CODE, magnet_id)
