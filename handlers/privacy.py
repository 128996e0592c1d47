"""Privacy from day one: /privacy, /mydata, /stop, /forget."""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import Update
from telegram.error import TelegramError

from bot.services import Ctx
from handlers.common import ack, buttons, chunks, clip, edit, lang_of, say, t, user_id

log = logging.getLogger(__name__)


async def privacy(update: Update, context: Ctx) -> None:
    """/privacy: what is stored and why."""
    await say(update, t(context, lang_of(update, context), "privacy"))


async def mydata(update: Update, context: Ctx) -> None:
    """/mydata: everything stored about the person, as they would read it."""
    svc, lang = context.svc, lang_of(update, context)
    person = user_id(update)
    lead = await svc.store.get_lead(person)
    if lead is None:
        await say(update, t(context, lang, "mydata_none"))
        return

    def when(ts: int | None) -> str:
        return (
            datetime.fromtimestamp(ts, svc.settings.zone).strftime("%Y-%m-%d %H:%M") if ts else "-"
        )

    def line(key: str, value: object) -> str:
        return f"{t(context, lang, key)}: {clip(str(value)) if value not in (None, '') else '-'}"

    name = " ".join(p for p in (lead.first_name, lead.last_name) if p)
    lines = [
        t(context, lang, "mydata_intro"),
        line("field_id", lead.user_id),
        line("field_name", name),
        line("field_username", f"@{lead.username}" if lead.username else None),
        line("field_language", lead.language),
        line("field_source", lead.first_source),
        line("field_email", lead.email),
        line("field_verified", when(lead.email_verified_at) if lead.email_verified_at else None),
        line(
            "field_consent",
            f"{when(lead.consent_at)} ({lead.consent_version})" if lead.consent_at else None,
        ),
        line("field_subscribed", t(context, lang, "yes" if lead.subscribed else "no")),
        line("field_stage", t(context, lang, f"stage_{lead.stage.value}")),
        line("field_started", when(lead.started_at)),
        line("field_unsubscribed", when(lead.unsubscribed_at) if lead.unsubscribed_at else None),
        line("field_blocked", when(lead.blocked_at) if lead.blocked_at else None),
        line("field_hot", f"{when(lead.hot_at)} ({lead.hot_reason})" if lead.hot_at else None),
        line("field_contacted", when(lead.contacted_at) if lead.contacted_at else None),
        line("field_won", when(lead.won_at) if lead.won_at else None),
        line("field_tips", sum((await svc.store.tips_received(person)).values())),
    ]
    magnets = await svc.store.lead_magnets(person)
    if magnets:
        lines.append(f"{t(context, lang, 'field_magnets')}:")
    for item in magnets:
        parts = [f"{t(context, lang, 'field_requested')} {when(item.requested_at)}"]
        if item.answer_id:
            fit = t(context, lang, "field_fit" if item.answer_fit else "field_not_fit")
            parts.append(f"{t(context, lang, 'field_answer')} {clip(item.answer_id)} ({fit})")
        if item.delivered_at:
            parts.append(f"{t(context, lang, 'field_delivered')} {when(item.delivered_at)}")
        lines.append(f"• {clip(item.magnet_id)}: {', '.join(parts)}")
    written = await svc.store.messages(person)
    if written:
        lines.append(f"{t(context, lang, 'field_messages')}:")
    for _kind, text, at in written:
        lines.append(f"• {when(at)}: {clip(text, 3500)}")
    for chunk in chunks(lines, 3900):  # everything, over as many messages as it takes
        await say(update, chunk)


async def stop(update: Update, context: Ctx) -> None:
    """/stop (and the stop button): no more messages from the business until a new opt-in."""
    svc, lang = context.svc, lang_of(update, context)
    person = user_id(update)
    await svc.store.clear_session(person)
    done = await svc.store.unsubscribe(person, update.update_id)
    if done:
        log.info("unsubscribed: %s", person)
    await say(update, t(context, lang, "stop_done" if done else "stop_already"))


async def forget(update: Update, context: Ctx) -> None:
    """/forget: ask for confirmation before erasing."""
    lang = lang_of(update, context)
    keyboard = buttons(
        (t(context, lang, "btn_forget_yes"), "fgt:yes"),
        (t(context, lang, "btn_forget_no"), "fgt:no"),
    )
    await say(update, t(context, lang, "forget_confirm"), reply_markup=keyboard)


async def forget_confirmed(update: Update, context: Ctx) -> None:
    """`fgt:yes` erases the person's data, `fgt:no` keeps it."""
    query = update.callback_query
    assert query is not None
    await ack(query)  # clients show a spinner until the query is answered
    lang = lang_of(update, context)
    await edit(query)
    if query.data != "fgt:yes":
        await say(update, t(context, lang, "forget_kept"))
        return
    store, person = context.svc.store, user_id(update)
    shown_to_owners = await store.relays_of(person)
    erased = await store.erase(person)
    if erased:
        log.info("personal data erased on request")
        # Alerts and relayed messages in owners' chats carry the person's data: replace them.
        for owner_chat, message_id in shown_to_owners:
            try:
                await context.bot.edit_message_text(
                    t(context, context.svc.texts.default, "card_erased"), owner_chat, message_id
                )
            except TelegramError as exc:
                log.debug("owner message not redacted: %s", exc)
    await say(update, t(context, lang, "forget_done" if erased else "forget_nothing"))
