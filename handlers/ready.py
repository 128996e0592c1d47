"""Ready to talk: tip buttons, /plan, plan phrases, /contact."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import MessageLimit

from bot.funnel import reasons
from bot.owner.alerts import alert_owners
from bot.services import Ctx
from bot.store import Event
from bot.telegram import names
from bot.telegram.callback_data import GoalSkip, PlanButton, StopButton
from handlers import privacy
from handlers.common import ack, buttons, known, say, t

log = logging.getLogger(__name__)

STEP_PLAN_GOAL = "plan_goal"
STEP_CONTACT = "contact"
MAX_TEXT = MessageLimit.MAX_TEXT_LENGTH - 96  # room for the card around it


async def request_plan(update: Update, context: Ctx, why: str) -> None:
    """Flag the person ready to talk, alert owners at once, then ask about their goal."""
    svc, lang, person = context.svc, context.lang, context.user_id
    await known(update, context)
    if not await svc.store.ready.mark_hot(person, Event.PLAN, why, update.update_id):
        await say(update, t(context, lang, "plan_again"))  # a second request does not count twice
        return
    await svc.nurture.end_sequences(person)  # ready to talk: the conversation takes over
    log.info("plan requested by %s (%s)", person, why)
    await alert_owners(
        context.bot, svc, person, t(context, svc.owner_lang, "alert_plan"),
        update_id=update.update_id,
    )  # fmt: skip
    await say(
        update,
        t(context, lang, "plan_ask_goal"),
        buttons((t(context, lang, "btn_skip"), GoalSkip().pack())),
    )
    await svc.store.sessions.set(person, STEP_PLAN_GOAL)


async def plan_command(update: Update, context: Ctx) -> None:
    """/plan: ask for a personalised plan."""
    await request_plan(update, context, reasons.PLAN_COMMAND)


async def plan_button(update: Update, context: Ctx) -> None:
    """`pln:<magnet>:<tip>`: the call-to-action button under a tip."""
    query = update.callback_query
    assert query is not None
    svc, person = context.svc, context.user_id
    tapped = PlanButton.unpack(query.data) or PlanButton("", "")  # forged: no such tip
    magnet_id, tip_id = tapped.magnet_id, tapped.tip_id
    tip = svc.catalogue.tip(magnet_id, tip_id)
    # Only a tip this person was really sent (not erased since, not forged) counts.
    if tip is None or not await svc.store.tips.was_sent(person, magnet_id, tip_id):
        await ack(query, t(context, context.lang, "button_expired"))
        return
    await ack(query)  # clients show a spinner until the query is answered
    await svc.store.tips.record_click(person, magnet_id, tip_id, update.update_id)
    await request_plan(update, context, reasons.tip_button(magnet_id, tip_id))


async def goal_skip(update: Update, context: Ctx) -> None:
    """`gol:skip`: no goal to tell."""
    query = update.callback_query
    assert query is not None
    lang, person = context.lang, context.user_id
    session = await context.svc.store.sessions.get(person)
    if session is None or session.step != STEP_PLAN_GOAL:
        await ack(query, t(context, lang, "button_expired"))
        return
    await ack(query)  # clients show a spinner until the query is answered
    await say(update, t(context, lang, "plan_confirmed"))
    await context.svc.store.sessions.clear(person)


async def goal_text(update: Update, context: Ctx, text: str) -> None:
    """The person's goal for their plan: kept, passed on to owners, thanked."""
    svc, lang, person = context.svc, context.lang, context.user_id
    await svc.store.ready.add_message(person, "goal", text[:MAX_TEXT], update.update_id)
    lead = await context.lead()
    name = names.person(lead.first_name if lead else None, None, person)
    headline = t(context, svc.owner_lang, "alert_goal", name=name)
    await alert_owners(context.bot, svc, person, headline, text[:MAX_TEXT], update.update_id)
    await say(update, t(context, lang, "plan_confirmed"))
    await svc.store.sessions.clear(person)


async def contact_command(update: Update, context: Ctx) -> None:
    """/contact [message]: write to the business."""
    text = " ".join(context.args or []).strip()
    if text:
        await contact_text(update, context, text)
        return
    await say(update, t(context, context.lang, "contact_ask"))
    await context.svc.store.sessions.set(context.user_id, STEP_CONTACT)


async def contact_text(
    update: Update, context: Ctx, text: str, why: str = reasons.CONTACT_COMMAND
) -> None:
    """A contact message (/contact, or an appointment asked in words): kept, sent to owners."""
    svc, lang, person = context.svc, context.lang, context.user_id
    await known(update, context)
    await svc.store.ready.add_message(person, "contact", text[:MAX_TEXT], update.update_id)
    await svc.store.ready.mark_hot(person, Event.CONTACT, why, update.update_id)
    await svc.nurture.end_sequences(person)  # ready to talk: the conversation takes over
    log.info("contact message from %s", person)
    await alert_owners(
        context.bot, svc, person, t(context, svc.owner_lang, "alert_contact"), text[:MAX_TEXT],
        update.update_id,
    )  # fmt: skip
    await say(update, t(context, lang, "contact_sent"))
    await svc.store.sessions.clear(person)


async def stop_button(update: Update, context: Ctx) -> None:
    """`stp` under a tip, `stp:<broadcast>` under a broadcast: /stop (clicks counted)."""
    query = update.callback_query
    assert query is not None
    tapped = StopButton.unpack(query.data)
    if tapped is None:
        await ack(query, t(context, context.lang, "button_expired"))
        return
    await ack(query)  # clients show a spinner until the query is answered
    if tapped.broadcast_id is not None:  # counted only if this person was sent that broadcast
        await context.svc.store.broadcasts.stop_click(
            context.user_id, tapped.broadcast_id, update.update_id
        )
    await privacy.stop(update, context)  # whoever asks to stop is stopped, counted or not
