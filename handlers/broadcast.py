"""Owner console: /broadcast — running ones, then a draft's buttons: versions, links, segment,
preview, test, confirm or cancel (composing itself is in broadcast_compose)."""

from __future__ import annotations

import logging

from telegram import Update

from bot.broadcast.schedule import start_now
from bot.services import Ctx
from bot.telegram.callback_data import parse_id
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
        counts = await svc.store.broadcasts.progress(running.id)
        total = sum(v for k, v in counts.items() if k != "stop_clicks")
        await say(
            update,
            t(
                context,
                lang,
                "bc_running",
                id=str(running.id),
                sent=str(counts.get("sent", 0)),
                total=str(total),
            ),
            buttons((t(context, lang, "btn_bc_stop", id=str(running.id)), f"bc:x:{running.id}")),
        )
    await list_scheduled(update, context)
    if await from_command(update, context):  # "/broadcast <message>" is fine too
        return
    await say(update, t(context, lang, "bc_ask"))
    await svc.store.sessions.set(context.user_id, STEP_BROADCAST)


async def button(update: Update, context: Ctx) -> None:
    """`bc:s:<id>:<n>` segment, `bc:t:<id>` test, `bc:go:<id>:<n>` confirm, `bc:x:<id>` cancel,
    `bc:v:<id>:<lang>` add a version, `bc:l:<id>` add a link button, `bc:w:<id>:<n>` send later,
    `bc:at:<id>:<time>` at that time, `bc:r:<id>` reschedule, `bc:u:<id>` send an ended
    broadcast again to its unknown recipients (after a confirm)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc, lang = context.svc, context.svc.owner_lang
    parts = query.data.split(":")
    draft_id = parse_id(parts[2]) if len(parts) in (3, 4) else None
    draft = await svc.store.broadcasts.get(draft_id) if draft_id is not None else None
    if not svc.is_owner(context.user_id) or draft is None:
        await unknown_button(update, context)
        return
    action = parts[1]
    index = parse_id(parts[3]) if len(parts) == 4 else None
    chosen = draft.segments[index] if index is not None and index < len(draft.segments) else None
    if action == "x":
        await ack(query)
        if await svc.store.broadcasts.finish(draft.id, "cancelled"):
            svc.broadcaster.cancel(draft.id)
            await edit(query)
            if draft.state in ("draft", "scheduled", "held"):  # nothing had been sent
                await say(update, t(context, lang, "bc_dropped", id=str(draft.id)))
        else:
            await say(update, t(context, lang, "bc_not_draft"))
        return
    if action == "u" and len(parts) == 3 and draft.state in ("done", "cancelled"):
        await offer_resend(update, context, draft.id)
        return
    waiting = draft.state in ("draft", "scheduled", "held")  # not started: may still change
    if not waiting or (draft.state != "draft" and action in ("s", "v", "l", "w")):
        await ack(query, t(context, lang, "bc_not_draft"))
        return
    if action == "at" and index is not None:
        await ack(query)
        await schedule_at(update, context, draft.id, index)  # the moment the button offered
    elif action in ("w", "r") and (chosen is not None or action == "r"):
        await ack(query)
        if chosen is not None:  # the segment this preview showed
            await svc.store.broadcasts.choose_segment(draft.id, chosen)
        await ask_when(update, context, draft)
    elif action == "s" and chosen is not None:
        await ack(query)
        await preview(update, context, draft.id, chosen)
    elif action == "t" and len(parts) == 3:
        await ack(query, t(context, lang, "bc_test_sent"))
        await send_versions(context, chat_id(update), draft)
    elif action == "v" and len(parts) == 4:
        await ack(query)
        await ask_version(update, context, draft, parts[3])
    elif action == "l" and len(parts) == 3:
        await ack(query)
        await ask_link(update, context, draft)
    elif action == "go" and chosen is not None:
        await ack(query)  # clients show a spinner until the query is answered
        # The segment this preview showed, whatever was picked since in the list above.
        await confirm(update, context, draft.id, chosen)
    else:
        await unknown_button(update, context)


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
            (t(context, lang, "btn_bc_go", count=str(count)), f"bc:go:{draft_id}:0"),
            (t(context, lang, "btn_bc_cancel"), f"bc:x:{draft_id}"),
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
    rows = [(t(context, lang, "btn_bc_test"), f"bc:t:{broadcast_id}")]
    if count:
        go = f"bc:go:{broadcast_id}:{index}"
        rows.append((t(context, lang, "btn_bc_go", count=str(count)), go))
        rows.append((t(context, lang, "btn_bc_later"), f"bc:w:{broadcast_id}:{index}"))
    rows.append((t(context, lang, "btn_bc_cancel"), f"bc:x:{broadcast_id}"))
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
