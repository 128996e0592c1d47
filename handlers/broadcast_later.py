"""Owner console: sending a broadcast later — asking when, scheduling, listing, rescheduling."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from bot.broadcast.draft import local_time, parse_when, slots, when_problem
from bot.services import Ctx
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastButton
from handlers.common import buttons, clip, say, t
from handlers.segments import segment_label

STEP_BROADCAST = "broadcast"  # composing, adding to a draft, or saying when it goes


async def ask_when(update: Update, context: Ctx, draft: Broadcast) -> None:
    """`bc:w` / `bc:r`: type a date and time, or pick tomorrow or Monday at 09:00."""
    svc, lang = context.svc, context.svc.owner_lang
    offered = slots(svc.clock(), svc.settings.zone)
    await svc.store.sessions.set(context.user_id, STEP_BROADCAST, draft=draft.id, when=1)
    await say(
        update,
        t(context, lang, "bc_ask_when", zone=svc.settings.timezone),
        buttons(
            (
                t(context, lang, "btn_bc_tomorrow"),
                BroadcastButton("at", draft.id, number=offered["tomorrow"]).pack(),
            ),
            (
                t(context, lang, "btn_bc_monday"),
                BroadcastButton("at", draft.id, number=offered["monday"]).pack(),
            ),
        ),
    )


async def when_typed(update: Update, context: Ctx, draft_id: int) -> None:
    """`2026-12-07 09:00` typed: scheduled, or refused with the reason (still asking)."""
    svc = context.svc
    typed = (update.effective_message.text or "") if update.effective_message else ""
    moment = parse_when(typed, svc.clock(), svc.settings.zone)
    if isinstance(moment, str):
        await say(update, t(context, svc.owner_lang, moment, zone=svc.settings.timezone))
        return
    await schedule_at(update, context, draft_id, moment)


async def schedule_at(update: Update, context: Ctx, draft_id: int, moment: int) -> None:
    """Set (or move) the time a broadcast goes; a time already past is refused."""
    svc, lang = context.svc, context.svc.owner_lang
    problem = when_problem(moment, svc.clock())  # an old button: yesterday's "tomorrow"
    if problem:
        await say(update, t(context, lang, problem, zone=svc.settings.timezone))
        return
    if not await svc.store.broadcasts.schedule(draft_id, moment):
        await say(update, t(context, lang, "bc_not_draft"))
    else:
        draft = await svc.store.broadcasts.get(draft_id)
        assert draft is not None
        text, keyboard = await scheduled_line(context, draft)
        await say(update, text, keyboard)
    await svc.store.sessions.clear(context.user_id)  # last: a retry of this update finds it


async def scheduled_line(context: Ctx, draft: Broadcast) -> tuple[str, InlineKeyboardMarkup]:
    """A scheduled broadcast as owners see it (with Reschedule and Cancel), or a held one
    (missed while the bot was down: Send now or Cancel)."""
    svc, lang = context.svc, context.svc.owner_lang
    assert draft.send_at is not None and draft.segment is not None
    when = local_time(draft.send_at, svc.settings.zone)
    cancel = (t(context, lang, "btn_bc_cancel"), BroadcastButton("x", draft.id).pack())
    if draft.state == "held":
        index = draft.segments.index(draft.segment)
        text = t(context, lang, "bc_held", id=str(draft.id), when=when)
        now = (
            t(context, lang, "btn_bc_send_now"),
            BroadcastButton("go", draft.id, number=index).pack(),
        )
        return text, buttons(now, cancel)
    count = await svc.store.broadcasts.audience_size(draft.segment)
    text = svc.texts.count(
        lang,
        "bc_scheduled",
        count,
        id=str(draft.id),
        when=when,
        zone=svc.settings.timezone,
        segment=clip(segment_label(context, draft.segment), 80),
    )
    return text, buttons(
        (t(context, lang, "btn_bc_reschedule"), BroadcastButton("r", draft.id).pack()), cancel
    )


async def list_scheduled(update: Update, context: Ctx) -> None:
    """In /broadcast: every scheduled or held broadcast, each with its buttons."""
    store = context.svc.store
    for state in ("held", "scheduled"):
        for draft in sorted(await store.broadcasts.in_state(state), key=lambda b: b.send_at or 0):
            text, keyboard = await scheduled_line(context, draft)
            await say(update, text, keyboard)
