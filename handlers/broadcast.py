"""Owner console: /broadcast — running ones, then a draft's buttons: versions, links, segment,
preview, test, confirm or cancel (composing itself is in broadcast_compose)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Update

from bot.broadcast.schedule import start_now
from bot.services import Ctx
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastAction, BroadcastButton
from handlers.broadcast_compose import (
    STEP_BROADCAST,
    ask_link,
    ask_version,
    from_command,
    send_versions,
)
from handlers.broadcast_later import ask_when, list_scheduled, schedule_at
from handlers.common import ack, buttons, chat_id, clip, edit, say, t
from handlers.fallback import unknown_button
from handlers.segments import segment_label

log = logging.getLogger(__name__)


async def broadcast(update: Update, context: Ctx) -> None:
    """/broadcast [message]: running broadcasts (with cancel buttons), then compose a new one."""
    svc, lang = context.svc, context.svc.owner_lang
    for running in await svc.store.broadcasts.in_state("sending"):
        await _show_running(update, context, running)
    await list_scheduled(update, context)
    if await from_command(update, context):  # "/broadcast <message>" is fine too
        return
    await say(update, t(context, lang, "bc_ask"))
    await svc.store.sessions.set(context.user_id, STEP_BROADCAST)


async def _show_running(update: Update, context: Ctx, running: Broadcast) -> None:
    """A running broadcast's progress, with its stop button."""
    lang = context.svc.owner_lang
    counts = await context.svc.store.broadcasts.progress(running.id)
    total = sum(v for k, v in counts.items() if k != "stop_clicks")
    sent = str(counts.get("sent", 0))
    text = t(context, lang, "bc_running", id=str(running.id), sent=sent, total=str(total))
    stop = t(context, lang, "btn_bc_stop", id=str(running.id))
    await say(update, text, buttons((stop, _pack("x", running.id))))


async def button(update: Update, context: Ctx) -> None:
    """A draft's (or a running broadcast's) button, `bc:<action>:<id>[:<arg>]`: cancel, send
    an ended one again to its unknown recipients, else one of DRAFT_ACTIONS (owners only)."""
    query = update.callback_query
    assert query is not None
    svc, tapped = context.svc, BroadcastButton.unpack(query.data)
    draft = await svc.store.broadcasts.get(tapped.broadcast_id) if tapped else None
    if tapped is None or draft is None or not svc.is_owner(context.user_id):
        await unknown_button(update, context)
        return
    if tapped.action == "x":
        await _cancel(update, context, draft)
    elif tapped.action == "u" and draft.state in ("done", "cancelled"):
        await offer_resend(update, context, draft.id)
    elif not _may_change(draft, tapped.action):
        await ack(query, t(context, svc.owner_lang, "bc_not_draft"))
    else:
        await DRAFT_ACTIONS.get(tapped.action, _unknown)(update, context, draft, tapped)


def _may_change(draft: Broadcast, action: str) -> bool:
    """Not started yet; once scheduled, only its time, a test or the go may still change."""
    if draft.state not in WAITING:
        return False
    return draft.state == "draft" or action not in ("s", "v", "l", "w")


async def _cancel(update: Update, context: Ctx, draft: Broadcast) -> None:
    """`bc:x`: drop a draft, unschedule it, or stop a running broadcast."""
    svc, lang, query = context.svc, context.svc.owner_lang, update.callback_query
    assert query is not None
    await ack(query)
    if not await svc.store.broadcasts.finish(draft.id, "cancelled"):
        await say(update, t(context, lang, "bc_not_draft"))
        return
    svc.broadcaster.cancel(draft.id)
    await edit(query)
    if draft.state in WAITING:  # nothing had been sent
        await say(update, t(context, lang, "bc_dropped", id=str(draft.id)))


async def _ack(update: Update, text: str | None = None) -> None:
    """Answer the button (clients show a spinner until then)."""
    assert update.callback_query is not None
    await ack(update.callback_query, text)


def _chosen(draft: Broadcast, tapped: BroadcastButton) -> str | None:
    """The segment a button's index names (the list it was drawn from), if still there."""
    index = tapped.number
    return draft.segments[index] if index is not None and index < len(draft.segments) else None


async def _unknown(update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton) -> None:
    """Not an action on a waiting draft (`bc:u` on one that never ended)."""
    await unknown_button(update, context)


DraftAction = Callable[[Update, Ctx, Broadcast, BroadcastButton], Awaitable[None]]
SegmentStep = Callable[[Update, Ctx, Broadcast, str], Awaitable[None]]


def _for_segment(step: SegmentStep) -> DraftAction:
    """A button naming the n-th segment offered: that segment (if still there) to `step`."""

    async def action(
        update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton
    ) -> None:
        chosen = _chosen(draft, tapped)
        if chosen is None:
            await unknown_button(update, context)
            return
        await _ack(update)
        await step(update, context, draft, chosen)

    action.__doc__ = step.__doc__
    return action


@_for_segment
async def _segment(update: Update, context: Ctx, draft: Broadcast, chosen: str) -> None:
    """`bc:s:<id>:<n>`: the n-th segment: preview and audience size."""
    await preview(update, context, draft.id, chosen)


async def _test(update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton) -> None:
    """`bc:t:<id>`: every version to the owner, as leads will see them."""
    await _ack(update, t(context, context.svc.owner_lang, "bc_test_sent"))
    await send_versions(context, chat_id(update), draft)


@_for_segment
async def _go(update: Update, context: Ctx, draft: Broadcast, chosen: str) -> None:
    """`bc:go:<id>:<n>`: send now, to the segment the preview showed (whatever was picked
    since in the list above)."""
    await confirm(update, context, draft.id, chosen)


@_for_segment
async def _later(update: Update, context: Ctx, draft: Broadcast, chosen: str) -> None:
    """`bc:w:<id>:<n>` send later, to the segment this preview showed: when?"""
    await context.svc.store.broadcasts.choose_segment(draft.id, chosen)
    await ask_when(update, context, draft)


async def _reschedule(
    update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton
) -> None:
    """`bc:r:<id>`: another time for a scheduled broadcast."""
    await _ack(update)
    await ask_when(update, context, draft)


async def _at(update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton) -> None:
    """`bc:at:<id>:<time>`: at the moment the button offered."""
    assert tapped.number is not None  # BroadcastButton.unpack: `at` always has its time
    await _ack(update)
    await schedule_at(update, context, draft.id, tapped.number)


async def _version(update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton) -> None:
    """`bc:v:<id>:<lang>`: the next message is that language's version."""
    assert tapped.lang is not None  # BroadcastButton.unpack: `v` always has its language
    await _ack(update)
    await ask_version(update, context, draft, tapped.lang)


async def _link(update: Update, context: Ctx, draft: Broadcast, tapped: BroadcastButton) -> None:
    """`bc:l:<id>`: the next text is a link button."""
    await _ack(update)
    await ask_link(update, context, draft)


WAITING = ("draft", "scheduled", "held")  # not started: may still change
# What each button does to a broadcast that has not started (see _may_change).
DRAFT_ACTIONS: dict[str, DraftAction] = {
    "s": _segment,
    "t": _test,
    "go": _go,
    "w": _later,
    "r": _reschedule,
    "at": _at,
    "v": _version,
    "l": _link,
}


async def offer_resend(update: Update, context: Ctx, broadcast_id: int) -> None:
    """Its unknown recipients may have it already: one draft for them, sent only on confirm."""
    svc, lang, query = context.svc, context.svc.owner_lang, update.callback_query
    assert query is not None
    draft_id, started = await svc.store.broadcasts.resend_draft(broadcast_id, chat_id(update))
    if started:  # a double tap, another owner, a stale button: it went once, not again
        await ack(query, t(context, lang, "bc_unknown_done", id=str(draft_id)))
        return
    await ack(query)  # clients show a spinner until the query is answered
    count = await svc.store.broadcasts.audience_size(f"unknown:{broadcast_id}")
    if not count:
        await say(update, t(context, lang, "bc_unknown_none", id=str(broadcast_id)))
        return
    await say(
        update,
        t(context, lang, "bc_unknown_confirm", id=str(broadcast_id), count=str(count)),
        buttons(
            (t(context, lang, "btn_bc_go", count=str(count)), _pack("go", draft_id, 0)),
            (t(context, lang, "btn_bc_cancel"), _pack("x", draft_id)),
        ),
    )


async def preview(update: Update, context: Ctx, broadcast_id: int, segment: str) -> None:
    """Show the message as leads will see it and the audience size; offer test, confirm, cancel."""
    svc, lang = context.svc, context.svc.owner_lang
    await svc.store.broadcasts.choose_segment(broadcast_id, segment)
    count = await svc.store.broadcasts.audience_size(segment)
    draft = await svc.store.broadcasts.get(broadcast_id)
    assert draft is not None
    await send_versions(context, chat_id(update), draft)
    index = draft.segments.index(segment)
    rows = [(t(context, lang, "btn_bc_test"), _pack("t", broadcast_id))]
    if count:
        rows.append(
            (t(context, lang, "btn_bc_go", count=str(count)), _pack("go", broadcast_id, index))
        )
        rows.append((t(context, lang, "btn_bc_later"), _pack("w", broadcast_id, index)))
    rows.append((t(context, lang, "btn_bc_cancel"), _pack("x", broadcast_id)))
    key = "bc_preview" if count else "bc_empty"
    await say(
        update,
        t(context, lang, key, count=str(count), segment=clip(segment_label(context, segment), 80)),
        buttons(*rows),
    )


async def confirm(update: Update, context: Ctx, broadcast_id: int, segment: str) -> None:
    """Store every recipient, then send in the background; the status message shows progress."""
    svc, lang = context.svc, context.svc.owner_lang
    await svc.store.broadcasts.choose_segment(broadcast_id, segment)
    await edit(update.callback_query)  # type: ignore[arg-type]
    count = await start_now(svc, context.bot, broadcast_id, segment, chat_id(update))
    if count is None:  # another owner (or a double tap) started or cancelled it first
        await say(update, t(context, lang, "bc_not_draft"))
        return
    log.info("broadcast %s confirmed by %s for %d people", broadcast_id, context.user_id, count)


def _pack(action: BroadcastAction, broadcast_id: int, number: int | None = None) -> str:
    """A broadcast button's data."""
    return BroadcastButton(action, broadcast_id, number=number).pack()
