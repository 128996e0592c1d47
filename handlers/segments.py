"""Broadcast segments as owners see them: the list offered, their labels, their audiences."""

from __future__ import annotations

from telegram import InlineKeyboardButton

from bot.content.catalogue import localized
from bot.services import Ctx
from bot.store.broadcasts import Broadcast
from bot.telegram.callback_data import BroadcastButton
from handlers.common import t

SOURCES_OFFERED = 5
CAPTURED_DAYS = (7, 30)


async def offered(context: Ctx) -> list[str]:
    """Every segment a new draft offers (buttons refer to them by index)."""
    svc = context.svc
    segments = ["all"]
    segments += [f"lang:{lang}" for lang in svc.texts.languages]
    segments += [f"new:{days}" for days in CAPTURED_DAYS]
    segments += [f"magnet:{m.id}" for m in svc.catalogue.magnets]
    segments += [f"stage:{s}" for s in ("lead", "nurturing", "hot", "customer")]
    segments += [f"source:{s}" for s in await svc.store.broadcasts.top_sources(SOURCES_OFFERED)]
    return segments


def segment_label(context: Ctx, segment: str) -> str:
    """`magnet:what-to-wear` -> `Got “What to wear…”` in the owner's language."""
    from handlers.broadcast_compose import language_name  # its names live with the versions

    svc, lang = context.svc, context.svc.owner_lang
    kind, _, value = segment.partition(":")
    if kind == "magnet":
        magnet = svc.catalogue.get(value)
        title = localized(magnet.title, lang, lang) if magnet else value
        return t(context, lang, "seg_magnet", title=title)
    if kind == "stage":
        return t(context, lang, "seg_stage", stage=t(context, lang, f"stage_{value}"))
    if kind == "source":
        return t(context, lang, "seg_source", source=value)
    if kind == "lang":
        return t(context, lang, "seg_lang", language=language_name(context, value))
    if kind == "new":
        return t(context, lang, "seg_new", days=value)
    return t(context, lang, "seg_all")


async def segment_rows(context: Ctx, draft: Broadcast) -> list[list[InlineKeyboardButton]]:
    """One button per segment of the draft, its audience now in the label."""
    rows = []
    for index, segment in enumerate(draft.segments):
        count = await context.svc.store.broadcasts.audience_size(segment)
        label = f"{segment_label(context, segment)} ({count})"
        rows.append(
            [
                InlineKeyboardButton(
                    label[:60], callback_data=BroadcastButton("s", draft.id, number=index).pack()
                )
            ]
        )
    return rows
