"""What is left: unknown commands and buttons, blocks and unblocks, and errors."""

from __future__ import annotations

import logging
from typing import TypeVar

from telegram import ChatMember, Update
from telegram.error import Forbidden
from telegram.ext import ApplicationHandlerStop

from bot.services import Ctx
from bot.store.core import DatabaseGone, server_cancelled
from bot.telegram import replies
from bot.telegram.callback_data import CallbackData
from bot.telegram.intake import describe
from handlers.common import ack, chat_id, say, t

log = logging.getLogger(__name__)
Tap = TypeVar("Tap", bound=CallbackData)


async def unknown_command(update: Update, context: Ctx) -> None:
    """A command the bot does not have (owner commands look exactly like this to others)."""
    await say(update, t(context, context.lang, "unknown_command"))


async def unknown_button(update: Update, context: Ctx) -> None:
    """A button with data the bot does not know (stale or forged)."""
    query = update.callback_query
    assert query is not None
    await ack(query, t(context, context.lang, "button_expired"))


async def owners_tap(update: Update, context: Ctx, kind: type[Tap]) -> Tap | None:
    """The owner button tapped; to anyone else, or for forged data, "no longer active" and None."""
    query = update.callback_query
    tapped = kind.unpack(query.data) if query is not None else None
    if tapped is None or not context.svc.is_owner(context.user_id):
        await unknown_button(update, context)
        return None
    return tapped


async def chatless_button(update: Update, context: Ctx) -> None:
    """A button on an inline message (no chat to answer in): every handler needs a chat."""
    query = update.callback_query
    if query is None or update.effective_chat is not None:
        return
    await ack(query, t(context, context.lang, "button_expired"))
    raise ApplicationHandlerStop  # no other handler runs: they all answer in the chat


async def member_changed(update: Update, context: Ctx) -> None:
    """The person blocked (kicked) or unblocked the bot in their private chat."""
    change = update.my_chat_member
    assert change is not None
    if change.chat.type != "private":  # groups and channels say nothing about the person
        return
    blocked = change.new_chat_member.status == ChatMember.BANNED
    if await context.lead() is None:  # the person behind the update: the one who (un)blocked
        return
    if await context.svc.store.leads.mark_blocked(change.from_user.id, blocked):
        log.info("%s %s the bot", change.from_user.id, "blocked" if blocked else "unblocked")


async def on_error(update: object, context: Ctx) -> None:
    """Log with context, and tell the person something went wrong rather than stay silent."""
    update_id = update.update_id if isinstance(update, Update) else None
    if isinstance(context.error, Forbidden) and isinstance(update, Update):
        # They blocked the bot between their message and our answer: nothing is broken.
        user = update.effective_user
        if user is not None and await context.lead() is not None:
            await context.svc.store.leads.mark_blocked(user.id)
        log.info("update %s: the person blocked the bot meanwhile", update_id)
        return
    if isinstance(context.error, DatabaseGone):  # the guard's CRITICAL line says it all
        log.warning("update %s not finished: %s", update_id, context.error)
        return
    if context.error is not None and server_cancelled(context.error):
        # Past the server's statement_timeout, the database busy (another session's lock:
        # a VACUUM FULL, a migration): rolled back, the update stays pending for later.
        replies.leave_undone()
        log.warning("update %s not finished, handled again later: the database cancelled a"
                    " statement (%s)", update_id, describe(context.error))  # fmt: skip
        return
    if context.error is not None and replies.retry_later(context.error):
        # A reply failed (network trouble, 429s too long): the update is handled again soon.
        log.warning("update %s: a reply failed (%s)", update_id, describe(context.error))
        return
    log.error("error while handling update %s", update_id, exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != "private" or isinstance(context.error, Forbidden):
        return
    try:
        await context.bot.send_message(chat_id(update), t(context, context.lang, "error"))
    except Exception:
        log.warning("could not tell %s about the error", chat_id(update))
