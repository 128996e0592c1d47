"""Owner console: /leads (lists and cards), /export (CSV), /links (deep links, QR codes)."""

from __future__ import annotations

import logging
from datetime import datetime

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.helpers import create_deep_linked_url

from bot.content.catalogue import localized
from bot.funnel.rules import make_payload
from bot.owner.alerts import card_buttons, lead_card
from bot.owner.export import export_csv
from bot.owner.links import qr_card, qr_filename, source_max, source_name
from bot.services import Ctx
from bot.store.owner import LIST_NAMES
from bot.telegram import names
from bot.telegram.callback_data import LeadCard, LeadsPage
from handlers.common import ack, chat_id, clip, say, show, t
from handlers.fallback import owners_tap, unknown_button

PAGE = 8
log = logging.getLogger(__name__)


async def leads(update: Update, context: Ctx) -> None:
    """/leads [hot|recent|won]: a page of leads, each with a button for its card."""
    name = context.args[0].lower() if context.args else "hot"
    if name not in LIST_NAMES:
        await say(update, t(context, context.svc.owner_lang, "leads_usage"))
        return
    text, keyboard, listed = await _page(context, name, 0)
    shown = await show(update, text, keyboard)
    # The page names these leads: an erasure draws it again without the erased one.
    await context.svc.store.owner.set_mentions(
        shown.chat_id, shown.message_id, listed, LeadsPage(name, 0).pack()
    )


async def _page(
    context: Ctx, name: str, page: int
) -> tuple[str, InlineKeyboardMarkup | None, list[int]]:
    """A page's text, its buttons and the leads it lists."""
    svc, lang = context.svc, context.svc.owner_lang
    rows, total = await svc.store.owner.list_leads(name, page * PAGE, PAGE)
    title = t(context, lang, f"leads_{name}", count=str(total))
    lines = [title]
    buttons = []
    for row in rows:
        who = names.person(row["first_name"], row["last_name"], row["user_id"], 40)
        handle = names.handle(row["username"])
        lines.append(f"• {who}{handle} — {clip(row['email'] or '-', 60)}")
        label = names.person(row["first_name"], row["last_name"], row["user_id"], 40, html=False)
        buttons.append([InlineKeyboardButton(label, callback_data=LeadCard(row["user_id"]).pack())])
    if not rows:
        lines.append(t(context, lang, "leads_none"))
    nav = []
    if page > 0:
        nav.append(InlineKeyboardButton("◀", callback_data=LeadsPage(name, page - 1).pack()))
    if (page + 1) * PAGE < total:
        nav.append(InlineKeyboardButton("▶", callback_data=LeadsPage(name, page + 1).pack()))
    if nav:
        buttons.append(nav)
    keyboard = InlineKeyboardMarkup(buttons) if buttons else None
    return "\n".join(lines), keyboard, [row["user_id"] for row in rows]


async def leads_page(update: Update, context: Ctx) -> None:
    """`lds:<list>:<page>`: another page (owners only)."""
    query = update.callback_query
    assert query is not None
    tapped = LeadsPage.unpack(query.data)
    if not context.svc.is_owner(context.user_id) or not tapped or tapped.name not in LIST_NAMES:
        await unknown_button(update, context)
        return
    await ack(query)  # clients show a spinner until the query is answered
    text, keyboard, listed = await _page(context, tapped.name, tapped.page)
    shown = query.message
    assert shown is not None  # fallback.chatless_button answered buttons on inline messages
    await context.svc.store.owner.set_mentions(
        shown.chat.id, shown.message_id, listed, tapped.pack()
    )
    if isinstance(shown, Message) and shown.reply_markup == keyboard:
        return  # a double tap: this page is already shown
    try:
        await query.edit_message_text(text, reply_markup=keyboard)
    except BadRequest as exc:  # "not modified" on a double tap: the page is already shown
        log.debug("page not changed: %s", exc)


async def redraw(context: Ctx, chat: int, message_id: int, how: str) -> None:
    """Draw a /leads page again (after an erasure): the erased lead is no longer on it."""
    page = LeadsPage.unpack(how)
    if page is None or page.name not in LIST_NAMES:
        return
    text, keyboard, listed = await _page(context, page.name, page.page)
    try:
        await context.bot.edit_message_text(text, chat, message_id, reply_markup=keyboard)
    except TelegramError as exc:  # deleted by the owner, or too old to edit
        log.debug("leads page not redrawn: %s", exc)
    await context.svc.store.owner.set_mentions(chat, message_id, listed, how)


async def card(update: Update, context: Ctx) -> None:
    """`crd:<lead>`: one lead's card with the contacted / won buttons (owners only)."""
    query = update.callback_query
    assert query is not None
    tapped = await owners_tap(update, context, LeadCard)
    if tapped is None:
        return
    svc = context.svc
    lead_id = tapped.person
    await ack(query)  # clients show a spinner until the query is answered
    text = await lead_card(svc, lead_id, t(context, svc.owner_lang, "card_title"))
    if await svc.store.leads.get(lead_id) is None:  # erased meanwhile: nothing to act on
        await say(update, text)
        return
    message = await context.bot.send_message(
        chat_id(update), text, reply_markup=card_buttons(svc, lead_id)
    )
    await svc.store.ready.add_relay(chat_id(update), message.message_id, lead_id)


async def export(update: Update, context: Ctx) -> None:
    """/export: every lead as a CSV document."""
    svc = context.svc
    data, count = await export_csv(svc)
    day = datetime.fromtimestamp(svc.clock(), svc.settings.zone).strftime("%Y-%m-%d")
    await context.bot.send_document(
        chat_id(update),
        data,
        filename=f"aimant-leads-{day}.csv",
        caption=svc.texts.count(svc.owner_lang, "export_caption", count),
    )


async def links(update: Update, context: Ctx) -> None:
    """/links [source name]: deep links for the menu and every magnet, each with a QR code."""
    svc, lang = context.svc, context.svc.owner_lang
    magnet_ids = {m.id for m in svc.catalogue.magnets}
    source = None
    if context.args:
        name = " ".join(context.args)
        made = source_name(name, magnet_ids)
        if made.problem:
            longest = str(source_max(magnet_ids))
            await say(update, t(context, lang, made.problem, name=clip(name, 64), max=longest))
            return
        source = made.source
    username = context.bot.username
    targets = [(None, t(context, lang, "links_menu"))] + [
        (m.id, localized(m.title, lang, lang)) for m in svc.catalogue.magnets
    ]
    label = (
        t(context, lang, "links_qr_source", source=source)
        if source
        else t(context, lang, "links_qr_direct")
    )
    await say(update, t(context, lang, "links_intro", source=clip(source or "-", 64)))
    for magnet_id, title in targets:
        payload = make_payload(source, magnet_id)
        url = create_deep_linked_url(username, payload or None)
        # A document, not a photo: Telegram would recompress a photo and blur the code.
        await context.bot.send_document(
            chat_id(update),
            qr_card(url, title, label),
            filename=qr_filename(source, magnet_id),
            caption=f"<b>{clip(title, 80)}</b>\n{url}",
        )
