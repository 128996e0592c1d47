"""Small helpers shared by the handlers: texts, the person's lead, keyboards, answers."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from typing import Any, cast

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot.content.catalogue import Magnet, Question, localized
from bot.services import Ctx
from bot.store import Lead
from bot.telegram.answers import unread
from bot.telegram.callback_data import AnswerQuestion, PickMagnet
from bot.telegram.html import clip as clip  # what handlers show of what people typed

log = logging.getLogger(__name__)


def t(context: Ctx, lang: str, key: str, **values: str) -> str:
    """A text in the person's language."""
    return context.svc.texts.get(lang, key, **values)


async def touch(update: Update, context: Ctx, source: str | None = None) -> Lead:
    """Create or refresh the person behind this update (names, language, first source)."""
    user = update.effective_user
    assert user is not None  # handlers only run on updates from users
    lead = await context.svc.store.leads.touch_visitor(
        user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language=context.lang,
        source=source,
        update_id=update.update_id,
    )
    context.saw_lead(lead)  # the fresh row: later reads in this update need not ask again
    return lead


async def known(update: Update, context: Ctx) -> Lead:
    """The person's lead, created first for someone who never sent /start."""
    return await context.lead() or await touch(update, context)


label = localized  # a catalogue text in the person's language, else the default, else any


class _Kept(InlineKeyboardMarkup):
    """A keyboard built once and sent many times: its JSON form is made once too (PTB's
    to_dict walks every button on every send)."""

    __slots__ = ("_json",)

    def __init__(self, inline_keyboard: Sequence[Sequence[InlineKeyboardButton]]) -> None:
        super().__init__(inline_keyboard)
        with self._unfrozen():
            self._json = json.dumps(super().to_dict())

    def to_dict(self, recursive: bool = True) -> dict[str, Any]:
        """InlineKeyboardMarkup.to_dict, a fresh copy of the one made at first."""
        if not recursive:
            return super().to_dict(recursive=False)
        return cast(dict[str, Any], json.loads(self._json))


# Keyboards built once per catalogue and language (PTB's markups are immutable, so shared):
# (id of the catalogue or magnet, language, default language) -> (that object, the markup).
_KEYBOARDS: dict[tuple[str, int, str, str], tuple[object, InlineKeyboardMarkup]] = {}


def _kept(kind: str, owner: object, lang: str, default: str) -> InlineKeyboardMarkup | None:
    kept = _KEYBOARDS.get((kind, id(owner), lang, default))
    return kept[1] if kept is not None and kept[0] is owner else None


def _keep(
    kind: str, owner: object, lang: str, default: str, markup: InlineKeyboardMarkup
) -> InlineKeyboardMarkup:
    markup = _Kept(markup.inline_keyboard)
    if len(_KEYBOARDS) >= 256:  # catalogues reloaded (tests): start again
        _KEYBOARDS.clear()
    _KEYBOARDS[(kind, id(owner), lang, default)] = (owner, markup)
    return markup


def menu_keyboard(context: Ctx, lang: str) -> InlineKeyboardMarkup:
    """One button per magnet."""
    default, catalogue = context.svc.texts.default, context.svc.catalogue
    return _kept("menu", catalogue, lang, default) or _keep(
        "menu", catalogue, lang, default, _menu_keyboard(catalogue.magnets, lang, default)
    )


def _menu_keyboard(magnets: Iterable[Magnet], lang: str, default: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label(m.title, lang, default), callback_data=PickMagnet(m.id).pack()
                )
            ]
            for m in magnets
        ]
    )


def question_keyboard(
    magnet: Magnet, question: Question, lang: str, default: str
) -> InlineKeyboardMarkup:
    """One button per answer to the magnet's qualifying question."""
    if question is not magnet.question:  # not the magnet's own: built each time
        return _question_keyboard(magnet, question, lang, default)
    return _kept("question", magnet, lang, default) or _keep(
        "question", magnet, lang, default, _question_keyboard(magnet, question, lang, default)
    )


def _question_keyboard(
    magnet: Magnet, question: Question, lang: str, default: str
) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    label(a.label, lang, default),
                    callback_data=AnswerQuestion(magnet.id, a.id).pack(),
                )
            ]
            for a in question.answers
        ]
    )


def buttons(*rows: tuple[str, str]) -> InlineKeyboardMarkup:
    """A keyboard with one (label, callback data) button per row."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data)] for text, data in rows]
    )


def chat_id(update: Update) -> int:
    """The chat to answer in."""
    assert update.effective_chat is not None
    return update.effective_chat.id


async def say(update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None) -> None:
    """Send a message to the chat this update came from (its answer unread: see `show`)."""
    with unread():  # nobody reads the sent message: PTB builds none
        await send(update, text, reply_markup)


async def show(
    update: Update, text: str, reply_markup: InlineKeyboardMarkup | None = None
) -> Message:
    """`say`, returning the message sent (for a caller that keeps its id)."""
    return await send(update, text, reply_markup)


async def send(update: Update, text: str, reply_markup: InlineKeyboardMarkup | None) -> Message:
    """Send a message to the chat this update came from."""
    assert update.effective_chat is not None
    return await update.effective_chat.send_message(text, reply_markup=reply_markup)


async def ack(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a button press; a replayed update's query may be too old to answer: fine."""
    try:
        await query.answer(text)
    except BadRequest as exc:
        log.debug("callback query not answered: %s", exc)


async def edit(query: CallbackQuery, text: str | None = None) -> None:
    """Replace the pressed message's text, or with None just remove its buttons.

    "Message is not modified" (a replay, a double tap) and deleted messages are not errors here.
    """
    shown = query.message
    if text is None and isinstance(shown, Message) and shown.reply_markup is None:
        return  # no buttons to remove: Telegram would answer "message is not modified"
    try:
        with unread():  # the edited message is not read back
            if text is None:
                await query.edit_message_reply_markup(None)
            else:
                await query.edit_message_text(text)
    except BadRequest as exc:
        log.debug("message not edited: %s", exc)


def chunks(lines: list[str], size: int) -> list[str]:
    """Join lines into texts of at most `size` characters (a longer line gets its own)."""
    out: list[str] = []
    for line in lines:
        if out and len(out[-1]) + 1 + len(line) <= size:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out
