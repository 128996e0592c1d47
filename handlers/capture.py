"""The prospect funnel: pick a magnet, give an email, answer the question, get the PDF."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.error import Forbidden, TelegramError

from bot.content.catalogue import Magnet
from bot.funnel.delivery import send_pdf
from bot.funnel.optin import code_usable
from bot.funnel.rules import EmailCheck, Step, check_email, next_step
from bot.outbox.mailer import code_buttons
from bot.services import Ctx
from bot.store import Lead, LeadMagnet
from bot.telegram.callback_data import AnswerQuestion, EmailSuggestion, OptInAgain, PickMagnet
from bot.telegram.replies import will_retry
from handlers.codes import STEP_CODE, send_code
from handlers.common import (
    ack,
    buttons,
    clip,
    edit,
    label,
    menu_keyboard,
    question_keyboard,
    say,
    t,
    touch,
)
from handlers.common import chat_id as chat_of

log = logging.getLogger(__name__)

STEP_EMAIL = "email"
STEP_EMAIL_CONFIRM = "email_confirm"
STEP_ANSWER = "answer"


async def offer(
    update: Update,
    context: Ctx,
    magnet: Magnet,
    source: str | None = None,
    lead: Lead | None = None,
) -> None:
    """Take the person one step further towards this magnet (NEXT_STEPS: which step does what).

    `lead`: the person's row as it stands, from a caller that has it (read or written since
    the last change to it); else it is read again.
    """
    # Fresh: an email, an answer or a new consent may have been saved just before.
    lead = lead or await context.lead(fresh=True) or await touch(update, context, source)
    asked = await context.svc.store.leads.asked_for(
        context.user_id, magnet.id, source or lead.first_source
    )
    step = _next_step(context, magnet, lead, asked)
    # Messages first, the step change last: if the process dies in between, the replayed update
    # finds the person still in the previous step and does this again.
    await NEXT_STEPS[step](update, context, magnet, lead)


def _next_step(context: Ctx, magnet: Magnet, lead: Lead, asked: list[LeadMagnet]) -> Step:
    """What this person needs next for this magnet (bot.funnel.rules.next_step); `asked`:
    the magnets they asked for, this one among them."""
    settings = context.svc.settings
    requested = {m.magnet_id: m for m in asked}
    return next_step(
        has_email=lead.email is not None,
        unsubscribed=lead.unsubscribed_at is not None,
        has_question=magnet.question is not None,
        answered=requested[magnet.id].answer_id is not None,
        must_verify=settings.double_optin
        and settings.optin_pdf_waits
        and lead.email_verified_at is None,
    )


def _title(context: Ctx, magnet: Magnet) -> str:
    """The magnet's title in the person's language, escaped."""
    return clip(label(magnet.title, context.lang, context.svc.texts.default))


async def _ask_email(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """The magnet's description and the consent notice; the next text is the address."""
    lang = context.lang
    description = label(magnet.description, lang, context.svc.texts.default)
    text = t(context, lang, "ask_email", title=_title(context, magnet), description=description)
    await say(update, f"{text}\n\n{t(context, lang, 'consent')}")
    await context.svc.store.sessions.set(context.user_id, STEP_EMAIL, magnet.id)


async def _confirm_optin(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """After /stop: opt in again? Only the button's explicit tap resubscribes."""
    lang = context.lang
    await context.svc.store.sessions.clear(context.user_id)
    keyboard = buttons(
        (t(context, lang, "btn_optin_yes"), OptInAgain(magnet.id).pack()),
        (t(context, lang, "btn_optin_no"), OptInAgain.declined().pack()),
    )
    text = t(context, lang, "optin_again", title=_title(context, magnet))
    await say(update, text, reply_markup=keyboard)


async def _ask_code(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """Double opt-in, the PDF waiting: the code on its way still works, else a fresh one."""
    store, person, lang = context.svc.store, context.user_id, context.lang
    assert lead.email is not None
    pending = await store.optin.pending_code(person)
    usable = (
        code_usable(pending, lead.email, store.now(), context.svc.settings.optin_max_attempts)
        and await store.optin.mail_error(person) is None
    )
    if not usable:  # none, expired, locked, or its mail failed: a fresh one
        await send_code(update, context, magnet.id, lead.email)
    else:
        await say(
            update,
            t(context, lang, "code_waiting", email=clip(lead.email)),
            reply_markup=code_buttons(context.svc, lang),
        )
    await store.sessions.set(person, STEP_CODE, magnet.id)


async def _ask_question(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """The magnet's qualifying question, one button per answer."""
    lang, default = context.lang, context.svc.texts.default
    assert magnet.question is not None
    await say(
        update,
        label(magnet.question.text, lang, default),
        reply_markup=question_keyboard(magnet, magnet.question, lang, default),
    )
    await context.svc.store.sessions.set(context.user_id, STEP_ANSWER, magnet.id)


async def _deliver(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """Everything is there: the PDF, and the step is over."""
    await deliver(update, context, magnet, lead)
    await context.svc.store.sessions.clear(context.user_id)


NEXT_STEPS: dict[Step, Callable[[Update, Ctx, Magnet, Lead], Awaitable[None]]] = {
    Step.ASK_EMAIL: _ask_email,
    Step.CONFIRM_OPTIN: _confirm_optin,
    Step.ASK_CODE: _ask_code,
    Step.ASK_QUESTION: _ask_question,
    Step.DELIVER: _deliver,
}


async def deliver(update: Update, context: Ctx, magnet: Magnet, lead: Lead) -> None:
    """Send the PDF, then record the delivery (`lead`: the person's row, read by offer)."""
    svc, person = context.svc, context.user_id
    chat = chat_of(update)
    lang, default = context.lang, svc.texts.default
    pdf = svc.catalogue.pdf(magnet, lang, default)
    try:
        await send_pdf(context.bot, svc.store, pdf, chat, label(magnet.caption, lang, default))
    except Forbidden:
        await svc.store.leads.mark_blocked(person)
        return
    except TelegramError as exc:
        if will_retry(exc):  # network trouble, 429s too long: the whole update is tried again
            raise
        log.exception("could not send %s to %s", pdf.name, person)
        await say(update, t(context, lang, "delivery_failed"))
        return
    # The magnet's tips start with its first delivery, recorded in the same transaction.
    started = await svc.store.tips.scheduled_ids(person, magnet.id)
    hot = lead.hot_at is not None  # read once: next_tip need not read the lead and tips again
    then = (
        None
        if started
        else await svc.nurture.next_tip(person, magnet.id, svc.clock(), hot, started)
    )
    first = await svc.store.leads.mark_delivered(person, magnet.id, update.update_id, then)
    log.info("magnet %s sent to %s (%s)", magnet.id, person, "first" if first else "again")
    if first:
        await say(update, t(context, lang, "after_delivery"))


async def pick_magnet(update: Update, context: Ctx) -> None:
    """A magnet button from the menu (`mag:<id>`)."""
    query = update.callback_query
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    lang, picked = context.lang, PickMagnet.unpack(query.data)
    magnet = context.svc.catalogue.get(picked.magnet_id) if picked else None
    if magnet is None:
        await say(
            update,
            t(context, lang, "magnet_unknown"),
            reply_markup=menu_keyboard(context, lang),
        )
        return
    await offer(update, context, magnet)


async def email_text(update: Update, context: Ctx, magnet: Magnet) -> None:
    """Text typed while the bot waits for an email address."""
    message = update.effective_message
    assert message is not None and message.text is not None
    check = check_email(message.text)
    if check.suggestion and check.suggestion != check.email:
        await _suggest(update, context, magnet, check)
    elif check.email is None:
        lang = context.lang
        why = t(context, lang, f"email_why_{check.error}")
        await message.reply_text(t(context, lang, "email_invalid", reason=why))
    else:
        await save_email(update, context, magnet, check.email)


async def _suggest(update: Update, context: Ctx, magnet: Magnet, check: EmailCheck) -> None:
    """A likely typo (gmial.com): offer the fix, and what was typed if it is an address."""
    assert update.effective_message is not None and check.suggestion is not None
    lang = context.lang
    await context.svc.store.sessions.set(
        context.user_id,
        STEP_EMAIL_CONFIRM,
        magnet.id,
        typed=check.email,
        suggested=check.suggestion,
    )
    rows = [(t(context, lang, "btn_suggest_yes"), EmailSuggestion(yes=True).pack())]
    if check.email:
        rows.append((t(context, lang, "btn_suggest_no"), EmailSuggestion(yes=False).pack()))
    await update.effective_message.reply_text(
        t(context, lang, "email_suggest", email=clip(check.suggestion)),
        reply_markup=buttons(*rows),
    )


async def save_email(update: Update, context: Ctx, magnet: Magnet, email: str) -> None:
    """Store a valid email with the consent shown, then a code first (double opt-in), else
    the question or the PDF."""
    svc, lang, person = context.svc, context.lang, context.user_id
    first = await svc.store.leads.capture_email(
        person,
        email,
        consent_version=t(context, lang, "consent_version"),
        magnet_id=magnet.id,
        update_id=update.update_id,
    )
    if first:
        log.info("lead captured: %s for magnet %s", person, magnet.id)
    lead = await context.lead(fresh=True) if svc.settings.double_optin else None
    if lead is not None and lead.email_verified_at is None:
        await _code_first(update, context, magnet, email)
        return
    await say(update, t(context, lang, "email_saved", email=clip(email)))
    await offer(update, context, magnet)


async def _code_first(update: Update, context: Ctx, magnet: Magnet, email: str) -> None:
    """Double opt-in: a code for this address; the PDF waits for it unless OPTIN_PDF_WAITS is
    off (then it goes now, if this is not a changed address of someone who has it)."""
    svc, person = context.svc, context.user_id
    waits = svc.settings.optin_pdf_waits
    prompt = "code_sent" if waits else "code_sent_nowait"
    sent = await send_code(update, context, magnet.id, email, prompt)
    if waits:  # the next text is the code (or, if none could be sent, another address)
        await svc.store.sessions.set(person, STEP_CODE if sent else STEP_EMAIL, magnet.id)
        return
    delivered = {m.magnet_id: m.delivered_at for m in await svc.store.leads.lead_magnets(person)}
    if delivered.get(magnet.id) is not None:  # a changed address: the PDF is theirs already
        await svc.store.sessions.clear(person)
        return
    await offer(update, context, magnet)


async def confirm_suggestion(update: Update, context: Ctx) -> None:
    """`eml:yes` takes the suggested address, `eml:no` keeps what was typed."""
    query = update.callback_query
    assert query is not None
    session = await context.svc.store.sessions.get(context.user_id)
    magnet = context.svc.catalogue.get(session.magnet_id or "") if session else None
    yes = EmailSuggestion.unpack(query.data) == EmailSuggestion(yes=True)
    email = session.data.get("suggested" if yes else "typed") if session else None
    if session is None or session.step != STEP_EMAIL_CONFIRM or magnet is None or not email:
        await ack(query, t(context, context.lang, "button_expired"))
        return
    await ack(query)  # clients show a spinner until the query is answered
    await edit(query)
    await save_email(update, context, magnet, email)


async def answer_question(update: Update, context: Ctx) -> None:
    """An answer button `ans:<magnet>:<answer>` under a qualifying question."""
    query = update.callback_query
    assert query is not None
    svc, lang, person = context.svc, context.lang, context.user_id
    tapped = AnswerQuestion.unpack(query.data)
    magnet_id = tapped.magnet_id if tapped else ""
    magnet = svc.catalogue.get(magnet_id)
    answer = (
        magnet.question.answer(tapped.answer_id) if tapped and magnet and magnet.question else None
    )
    lead = await context.lead()
    asked = {m.magnet_id: m for m in await svc.store.leads.lead_magnets(person)} if lead else {}
    if (
        magnet is None
        or answer is None
        or lead is None
        or lead.email is None
        or magnet_id not in asked
    ):
        await ack(query, t(context, lang, "button_expired"))
        return
    default = svc.texts.default
    saved = await svc.store.leads.save_answer(
        person, magnet.id, answer.id, answer.fit, update.update_id, lead.first_source
    )
    if not saved and asked[magnet_id].delivered_at is not None:  # a double tap
        previous = magnet.question.answer(asked[magnet_id].answer_id or "")  # type: ignore[union-attr]
        shown = label(previous.label, lang, default) if previous else ""
        await ack(query, t(context, lang, "already_answered", answer=shown))
        return
    # Answered but the PDF never left (a failed send, a crash): go on to the delivery.
    await ack(query, t(context, lang, "answer_thanks"))
    question = label(magnet.question.text, lang, default)  # type: ignore[union-attr]
    await edit(query, f"{question}\n→ <b>{clip(label(answer.label, lang, default))}</b>")
    await offer(update, context, magnet, lead=lead)  # an answer leaves the lead's row as it was


async def opt_in_again(update: Update, context: Ctx) -> None:
    """`opt:<magnet>` after /stop: an explicit new opt-in; `opt:no` declines."""
    query = update.callback_query
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    svc, lang, person = context.svc, context.lang, context.user_id
    await edit(query)
    tapped = OptInAgain.unpack(query.data)
    magnet = svc.catalogue.get(tapped.magnet_id) if tapped else None  # None for `opt:no`
    lead = await context.lead()
    if magnet is None or lead is None or lead.email is None:
        await say(update, t(context, lang, "optin_declined"))
        return
    await svc.store.leads.resubscribe(
        person, consent_version=t(context, lang, "consent_version"), update_id=update.update_id
    )
    delivered = {m.magnet_id for m in await svc.store.leads.lead_magnets(person) if m.delivered_at}
    if magnet.id not in delivered:
        await offer(update, context, magnet)
        return
    # They have this guide already: offered, not pushed (no PDF and a tip in the same breath).
    title = clip(label(magnet.title, lang, svc.texts.default))
    await say(
        update,
        t(context, lang, "optin_back", title=title),
        buttons((t(context, lang, "btn_send_again"), PickMagnet(magnet.id).pack())),
    )
