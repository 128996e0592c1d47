"""Owner console: composing a broadcast — the message as it is, a version per language, links."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.broadcast.draft import MAX_LINKS, Version, keyboard, kind_of, parse_link, refusal
from bot.services import Ctx
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastButton
from handlers.broadcast_later import STEP_BROADCAST, when_typed
from handlers.common import buttons, chat_id, clip, say, t
from handlers.segments import offered, segment_rows


def language_name(context: Ctx, lang: str) -> str:
    """`fr` as the owner reads it ("French"), else the language's own name for itself."""
    texts, owner = context.svc.texts, context.svc.owner_lang
    try:
        return texts.get(owner, f"bc_lang_{lang}")
    except KeyError:  # a texts file added without a name in the owner's language
        return texts.get(lang, "language_name")


async def received(update: Update, context: Ctx, data: dict[str, Any]) -> None:
    """What an owner sent while composing: a new broadcast, a version, or a link button."""
    draft_id = data.get("draft")
    if isinstance(draft_id, int) and data.get("link"):
        await link_typed(update, context, draft_id)
        return
    if isinstance(draft_id, int) and data.get("when"):
        await when_typed(update, context, draft_id)
        return
    message = update.effective_message
    assert message is not None
    problem = refusal(message)
    if problem is not None:  # still composing: the owner sends another one, or /cancel
        key, values = problem
        await say(update, t(context, context.svc.owner_lang, key, **values))
        return
    lang = str(data.get("lang") or context.svc.texts.default)
    version = Version(lang, chat_id(update), message.message_id, kind_of(message))
    if isinstance(draft_id, int):
        await add_version(update, context, draft_id, version)
    else:
        await new_draft(update, context, version, message.text or message.caption or "")


async def from_command(update: Update, context: Ctx) -> bool:
    """`/broadcast <text>`: the text as plain Telegram text (with the owner's formatting) is
    sent back to them, and that message is the one copied. False when there is no text."""
    message = update.effective_message
    assert message is not None
    parts = (message.text_html or "").split(maxsplit=1)  # PTB escapes &, < and > itself
    if len(parts) < 2 or not parts[1].strip():
        return False
    try:
        shown = await context.bot.send_message(chat_id(update), parts[1].strip())
    except BadRequest as exc:  # what the owner's own app sent should always go: say why not
        lang = context.svc.owner_lang
        await say(update, t(context, lang, "bc_bad_html", reason=html.escape(clip(str(exc), 200))))
        return True
    version = Version(context.svc.texts.default, chat_id(update), shown.message_id, "text")
    await new_draft(update, context, version, shown.text or "")
    return True


async def new_draft(update: Update, context: Ctx, version: Version, text: str) -> None:
    """Store the draft with its first version, then offer versions, links and segments."""
    svc = context.svc
    segments = await offered(context)
    draft_id = await svc.store.broadcasts.create(chat_id(update), text, segments, version)
    await show_draft(update, context, draft_id)
    await svc.store.sessions.clear(context.user_id)  # last: a retry of this update finds it


async def add_version(update: Update, context: Ctx, draft_id: int, version: Version) -> None:
    """Another language's version (the last one sent for a language wins)."""
    svc = context.svc
    if not await svc.store.broadcasts.set_version(draft_id, version):
        await say(update, t(context, svc.owner_lang, "bc_not_draft"))
    else:
        await show_draft(update, context, draft_id)
    await svc.store.sessions.clear(context.user_id)  # last: a retry of this update finds it


async def link_typed(update: Update, context: Ctx, draft_id: int) -> None:
    """`Label https://…`: a link button, validated; a wrong one is refused with the reason."""
    svc, lang = context.svc, context.svc.owner_lang
    typed = (update.effective_message.text or "") if update.effective_message else ""
    parsed = parse_link(typed)
    if isinstance(parsed, str):  # still waiting for a valid one
        await say(update, t(context, lang, parsed))
        return
    if not await svc.store.broadcasts.add_link(draft_id, *parsed, limit=MAX_LINKS):
        await say(update, t(context, lang, "bc_not_draft"))
    else:
        await show_draft(update, context, draft_id)
    await svc.store.sessions.clear(context.user_id)  # last: a retry of this update finds it


async def ask_version(update: Update, context: Ctx, draft: Broadcast, lang: str) -> None:
    """`bc:v:<id>:<lang>`: the next message the owner sends is that language's version."""
    svc, owner = context.svc, context.svc.owner_lang
    if lang not in svc.texts.languages:  # only languages leads can get texts in
        await say(update, t(context, owner, "bc_no_lang", languages=", ".join(svc.texts.languages)))
        return
    await svc.store.sessions.set(context.user_id, STEP_BROADCAST, draft=draft.id, lang=lang)
    await say(update, t(context, owner, "bc_ask_version", language=language_name(context, lang)))


async def ask_link(update: Update, context: Ctx, draft: Broadcast) -> None:
    """`bc:l:<id>`: the next text the owner sends is a link button."""
    svc, owner = context.svc, context.svc.owner_lang
    if len(draft.links) >= MAX_LINKS:
        await say(update, t(context, owner, "bc_link_full"))
        return
    await svc.store.sessions.set(context.user_id, STEP_BROADCAST, draft=draft.id, link=1)
    await say(update, t(context, owner, "bc_ask_link"))


def draft_summary(context: Ctx, draft: Broadcast) -> tuple[str, InlineKeyboardMarkup]:
    """What the draft holds (versions, links) and the buttons to add what is missing."""
    svc, owner = context.svc, context.svc.owner_lang
    names = [language_name(context, lang) for lang in svc.texts.languages if lang in draft.versions]
    links = [html.escape(label) for label, _ in draft.links] or ["—"]
    rows = [
        (t(context, owner, "btn_bc_version", language=language_name(context, lang)), lang)
        for lang in svc.texts.languages
        if lang not in draft.versions
    ]
    keys = [(label, BroadcastButton("v", draft.id, lang=lang).pack()) for label, lang in rows]
    if len(draft.links) < MAX_LINKS:
        keys.append((t(context, owner, "btn_bc_link"), BroadcastButton("l", draft.id).pack()))
    text = t(
        context,
        owner,
        "bc_draft",
        id=str(draft.id),
        versions=", ".join(names),
        links=", ".join(links),
    )
    return text, buttons(*keys)


async def show_draft(update: Update, context: Ctx, draft_id: int) -> None:
    """The draft's summary, then the segment picker (each button with its audience)."""
    svc, owner = context.svc, context.svc.owner_lang
    draft = await svc.store.broadcasts.get(draft_id)
    assert draft is not None
    text, keyboard = draft_summary(context, draft)
    await say(update, text, keyboard if keyboard.inline_keyboard else None)
    rows = await segment_rows(context, draft)
    cancel = t(context, owner, "btn_bc_cancel")
    rows.append([InlineKeyboardButton(cancel, callback_data=BroadcastButton("x", draft.id).pack())])
    await say(update, t(context, owner, "bc_pick", id=str(draft.id)), InlineKeyboardMarkup(rows))


async def send_versions(context: Ctx, chat: int, draft: Broadcast) -> None:
    """Every version exactly as leads of that language get it (preview and test send)."""
    svc = context.svc
    for lang in svc.texts.languages:
        version = draft.versions.get(lang)
        if version is None:
            continue
        if len(draft.versions) > 1:  # which leads get the copy below
            name = language_name(context, lang)
            header = t(context, svc.owner_lang, "bc_version_of", language=name)
            await context.bot.send_message(chat, header)
        stop = svc.texts.get(lang, "btn_stop_tips")
        await context.bot.copy_message(
            chat,
            version.from_chat,
            version.message_id,
            reply_markup=keyboard(draft.links, stop, draft.id),
        )
