"""Owners' side of "ready to talk": the lead card, alerts to every owner, relayed replies."""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.constants import MessageLimit
from telegram.error import TelegramError

from bot.content.catalogue import localized
from bot.funnel.reasons import describe
from bot.funnel.scoring import explain, score
from bot.services import Services
from bot.telegram import names
from bot.telegram.callback_data import OwnerMark
from bot.telegram.html import clip as _clip
from bot.telegram.html import visible_length

log = logging.getLogger(__name__)

CARD_LIMIT = MessageLimit.MAX_TEXT_LENGTH - 96  # a card's visible length, with room to spare


async def lead_card(svc: Services, user_id: int, headline: str, extra: str | None = None) -> str:
    """The card owners see: who, how to reach them, what they took, why they are hot, score."""
    store, texts, lang = svc.store, svc.texts, svc.owner_lang
    lead = await store.leads.get(user_id)
    if lead is None:
        return f"{headline}\n{texts.get(lang, 'card_erased')}"
    colon = texts.get(lang, "colon")  # French puts a narrow no-break space before it
    name = names.person(lead.first_name, lead.last_name, user_id, 100)
    link = f'<a href="tg://user?id={user_id}">{texts.get(lang, "card_profile")}</a>'
    lines = [headline, f"<b>{name}</b>{names.handle(lead.username)} · {link}"]
    verified = ""
    if lead.email_verified_at:
        verified = f" {texts.get(lang, 'card_verified')}"
    elif lead.email and svc.settings.double_optin:
        verified = f" {texts.get(lang, 'card_unverified')}"
    lines.append(
        f"{texts.get(lang, 'card_email')}{colon} {_clip(lead.email or '-', 320)}{verified}"
    )
    for item in await store.leads.lead_magnets(user_id):
        magnet = svc.catalogue.get(item.magnet_id)
        title = localized(magnet.title, lang, lang) if magnet else item.magnet_id
        answer = ""
        if magnet and magnet.question and item.answer_id:
            chosen = magnet.question.answer(item.answer_id)
            shown = localized(chosen.label, lang, lang) if chosen else item.answer_id
            mark = "✓" if item.answer_fit else "✗"
            answer = f" — {_clip(shown, 60)} {mark}"
        lines.append(f"📄 {_clip(title, 80)}{answer}")
    lines.append(f"{texts.get(lang, 'card_source')}{colon} {_clip(lead.first_source or '-', 64)}")
    total, signals = score(await store.ready.score_facts(user_id), svc.catalogue.scoring)
    lines.append(
        f"{texts.get(lang, 'card_score')}{colon} {escape(explain(total, signals, texts, lang))}"
    )
    if lead.hot_reason:
        why = describe(lead.hot_reason, texts, lang, svc.catalogue)
        lines.append(f"{texts.get(lang, 'card_why')}{colon} {_clip(why, 200)}")
    status = [texts.get(lang, f"stage_{lead.stage.value}")]
    for key, when in (("card_contacted", lead.contacted_at), ("card_won", lead.won_at)):
        if when:
            day = datetime.fromtimestamp(when, svc.settings.zone).strftime("%Y-%m-%d")
            status.append(f"{texts.get(lang, key)} {day}")
    lines.append(f"{texts.get(lang, 'card_stage')}{colon} {', '.join(status)}")
    card = "\n".join(lines)
    if extra:  # the person's own words get whatever room Telegram's 4096 leaves
        room = max(100, CARD_LIMIT - visible_length(card))
        card += f"\n\n<blockquote>{_clip(extra, room)}</blockquote>"
    return card


def card_buttons(svc: Services, user_id: int) -> InlineKeyboardMarkup:
    """Contacted / won buttons under a lead card (owner-only: checked when pressed)."""
    lang = svc.owner_lang
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    svc.texts.get(lang, "btn_contacted"),
                    callback_data=OwnerMark("c", user_id).pack(),
                ),
                InlineKeyboardButton(
                    svc.texts.get(lang, "btn_won"), callback_data=OwnerMark("w", user_id).pack()
                ),
            ]
        ]
    )


async def alert_owners(
    bot: Bot,
    svc: Services,
    user_id: int,
    headline: str,
    extra: str | None = None,
    update_id: int | None = None,
) -> int:
    """Send the lead card to every owner at once; an owner who blocked the bot is skipped.

    With an inbox group the card goes into the person's topic instead (owners in private if
    the group cannot take it). On PostgreSQL it is queued for the relay sender (the elected
    process alone writes into the group), once per update: a replay queues nothing more.
    """
    card = await lead_card(svc, user_id, headline, extra)
    if svc.settings.inbox_chat_id is not None and await svc.inbox.alert(user_id, card, update_id):
        return 1
    return await alert_in_private(bot, svc, user_id, card)


async def alert_in_private(bot: Bot, svc: Services, user_id: int, card: str) -> int:
    """The lead card to every owner's private chat; how many got it."""
    sent = 0
    for owner in svc.settings.owner_ids:
        try:
            message = await bot.send_message(owner, card, reply_markup=card_buttons(svc, user_id))
        except TelegramError as exc:
            log.warning("could not alert owner %s about lead %s: %s", owner, user_id, exc)
            continue
        await svc.store.ready.add_relay(owner, message.message_id, user_id)
        sent += 1
    log.info("hot lead %s: %d owner(s) alerted", user_id, sent)
    return sent


async def notify_owners(bot: Bot, svc: Services, text: str, about: int | None = None) -> int:
    """A plain notice (HTML) to every owner, e.g. a mail or webhook that could not be delivered.

    A notice `about` a lead names them: it is noted, so that their erasure redacts it.
    """
    sent = 0
    for owner in svc.settings.owner_ids:
        try:
            message = await bot.send_message(owner, text)
        except TelegramError as exc:
            log.warning("could not notify owner %s: %s", owner, exc)
            continue
        if about is not None:
            await svc.store.owner.set_mentions(owner, message.message_id, [about])
        sent += 1
    return sent
