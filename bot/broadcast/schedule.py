"""Starting broadcasts: now (an owner's confirm) or when their time comes (the job-queue tick)."""

from __future__ import annotations

import logging

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import TelegramError

from bot.broadcast.draft import late_action, local_time
from bot.services import Services
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastButton

log = logging.getLogger(__name__)


def _keyboard(*rows: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in rows])


async def start_now(
    svc: Services, bot: Bot, broadcast_id: int, segment: str | None = None, chat: int | None = None
) -> int | None:
    """Store every recipient, show the progress message (to `chat`, else the broadcast's
    owner), send in the background. None if it had already started or ended (another owner, a
    double tap, the tick)."""
    lang, paid = svc.owner_lang, svc.settings.paid_broadcast_rate > 0
    count = await svc.store.broadcasts.start(broadcast_id, paid, segment)
    broadcast = await svc.store.broadcasts.get(broadcast_id)
    if count is None or broadcast is None:
        return None
    stop = svc.texts.get(lang, "btn_bc_stop", id=str(broadcast_id))
    try:
        status = await bot.send_message(
            broadcast.owner_chat if chat is None else chat,
            svc.texts.count(lang, "bc_started", count, id=str(broadcast_id)),
            reply_markup=_keyboard((stop, BroadcastButton("x", broadcast_id).pack())),
        )
        await svc.store.broadcasts.set_status_message(
            broadcast_id, status.message_id, status.chat_id
        )
    except TelegramError as exc:  # the owner's chat is not the broadcast: it goes anyway
        log.warning("broadcast %s: no progress message (%s)", broadcast_id, exc)
    svc.broadcaster.launch(broadcast_id)
    return count


async def _tell_owners(
    svc: Services, bot: Bot, text: str, keyboard: InlineKeyboardMarkup | None
) -> None:
    for owner in svc.settings.owner_ids:
        try:
            await bot.send_message(owner, text, reply_markup=keyboard)
        except TelegramError as exc:
            log.warning("could not tell owner %s about a scheduled broadcast: %s", owner, exc)


async def _due(svc: Services, bot: Bot, broadcast: Broadcast, now: float) -> None:
    """One scheduled broadcast whose time has come."""
    lang, zone = svc.owner_lang, svc.settings.zone
    assert broadcast.send_at is not None and broadcast.segment is not None
    when = local_time(broadcast.send_at, zone)
    if late_action(broadcast.send_at, now) == "ask":  # the bot was down too long: owners decide
        if await svc.store.broadcasts.hold(broadcast.id):
            index = broadcast.segments.index(broadcast.segment)
            keyboard = _keyboard(
                (
                    svc.texts.get(lang, "btn_bc_send_now"),
                    BroadcastButton("go", broadcast.id, number=index).pack(),
                ),
                (svc.texts.get(lang, "btn_bc_cancel"), BroadcastButton("x", broadcast.id).pack()),
            )
            text = svc.texts.get(lang, "bc_held", id=str(broadcast.id), when=when)
            await _tell_owners(svc, bot, text, keyboard)
        return
    if not await svc.store.broadcasts.audience_size(
        broadcast.segment
    ):  # everyone left since: reported
        if await svc.store.broadcasts.finish(broadcast.id, "cancelled"):
            text = svc.texts.get(lang, "bc_due_empty", id=str(broadcast.id), when=when)
            await _tell_owners(svc, bot, text, None)
        return
    count = await start_now(svc, bot, broadcast.id)
    log.info("scheduled broadcast %s (%s) started for %s people", broadcast.id, when, count)


async def run_due(svc: Services, bot: Bot) -> None:
    """The job-queue tick: start the scheduled broadcasts that are due (at most 12 hours late;
    later, owners are asked once)."""
    now = svc.clock()
    for broadcast in await svc.store.broadcasts.due(int(now)):
        await _due(svc, bot, broadcast, now)
