"""Broadcast composition rules as plain functions: what can be copied, link buttons, versions."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message
from telegram.constants import MessageLimit

from bot.telegram.callback_data import StopButton

# What an owner may broadcast: copyMessage keeps each as it is (media by file, not re-uploaded).
COPYABLE = ("text", "photo", "video", "document", "voice", "audio", "animation")
MAX_CAPTION = int(
    MessageLimit.CAPTION_LENGTH
)  # 1024, Telegram's caption limit for bots (Premium users may write longer ones)
MAX_LINKS = 3
MAX_LABEL = 40
_TELEGRAM_HOSTS = ("t.me", "telegram.me")
_HOST = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")


@dataclass(frozen=True)
class Version:
    """One language's message: the owner's (or the bot's) message that is copied to leads."""

    language: str
    from_chat: int
    message_id: int
    kind: str


def kind_of(message: Message) -> str:
    """`text`, a media kind, `poll`, `other` (a sticker, a location...) or `service`."""
    if message.text:
        return "text"
    for kind in COPYABLE[1:]:
        if getattr(message, kind):
            return kind
    if message.poll:
        return "poll"
    return "other" if message.effective_attachment else "service"


def refusal(message: Message) -> tuple[str, dict[str, str]] | None:
    """Why this message cannot be a broadcast (a text key and its values), or None."""
    kind = kind_of(message)
    if kind == "poll":  # each copy would be a separate poll: its answers could not be read
        return "bc_no_poll", {}
    if kind not in COPYABLE:
        return "bc_not_copyable", {}
    if message.media_group_id:  # an album arrives as several messages: one copy would cut it
        return "bc_no_album", {}
    length = len(message.caption or "")
    if length > MAX_CAPTION:
        return "bc_caption_long", {"length": str(length)}
    return None


def link_problem(url: str) -> str | None:
    """Why a link button's URL is refused (a text key), or None for https:// or a t.me link."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:  # "https://[oops"
        return "bc_link_host"
    if parts.scheme != "https":  # http, tg://, javascript:... : a link leads can trust
        return "bc_link_scheme"
    if not _HOST.fullmatch(host) or parts.username or parts.password:
        return "bc_link_host"
    return None


def parse_link(typed: str) -> tuple[str, str] | str:
    """`Book now https://example.com/book` as (label, url), or the text key saying why not."""
    words = typed.split()
    if len(words) < 2:
        return "bc_link_usage"
    url, label = words[-1], " ".join(words[:-1])
    if url.lower().startswith(tuple(f"{host}/" for host in _TELEGRAM_HOSTS)):
        url = "https://" + url
    if len(label) > MAX_LABEL:
        return "bc_link_label"
    return link_problem(url) or (label, url)


def keyboard(
    links: list[tuple[str, str]], stop_label: str, broadcast_id: int
) -> InlineKeyboardMarkup:
    """The link buttons, one per row, above the stop button every broadcast carries."""
    rows = [[InlineKeyboardButton(label, url=url)] for label, url in links]
    rows.append([InlineKeyboardButton(stop_label, callback_data=StopButton(broadcast_id).pack())])
    return InlineKeyboardMarkup(rows)


def version_for(versions: dict[str, Version], lang: str, default: str) -> Version | None:
    """The version a lead of `lang` gets: theirs, else the default language's."""
    return versions.get(lang) or versions.get(default)


LATE_GRACE = 12 * 3600  # a broadcast missed while the bot was down still goes this late
MAX_AHEAD = 366 * 86400  # a year ahead at most: beyond is a typo (and a forged button)
_WHEN = re.compile(r"(\d{4})-(\d{2})-(\d{2})[ T](\d{1,2}):(\d{2})")


def parse_when(typed: str, now: float, zone: ZoneInfo) -> int | str:
    """`2026-12-07 09:00` in the business's zone as unix seconds, or the text key saying why
    not (malformed, or not in the future)."""
    match = _WHEN.fullmatch(typed.strip())
    if match is None:
        return "bc_when_bad"
    try:
        year, month, day, hour, minute = (int(g) for g in match.groups())
        local = datetime(year, month, day, hour, minute, tzinfo=zone)
    except ValueError:  # 2026-02-30, 25:00
        return "bc_when_bad"
    moment = int(local.timestamp())
    return when_problem(moment, now) or moment


def when_problem(moment: int, now: float) -> str | None:
    """Why a moment cannot be a broadcast's time (past, over a year ahead), or None."""
    if moment <= now:
        return "bc_when_past"
    return "bc_when_far" if moment - now > MAX_AHEAD else None


def slots(now: float, zone: ZoneInfo) -> dict[str, int]:
    """The offered moments: tomorrow 09:00 and the next Monday 09:00, in the business's zone."""
    today = datetime.fromtimestamp(now, zone).date()
    tomorrow = datetime.combine(today + timedelta(days=1), time(9), zone)
    monday = datetime.combine(today + timedelta(days=-today.weekday() % 7), time(9), zone)
    if monday.timestamp() <= now:  # this Monday's 09:00 is past (or today is not Monday)
        monday = datetime.combine(monday.date() + timedelta(days=7), time(9), zone)
    return {"tomorrow": int(tomorrow.timestamp()), "monday": int(monday.timestamp())}


def late_action(send_at: int, now: float) -> str:
    """A scheduled broadcast at `now`: `wait`, `send` (due, at most 12 hours late) or `ask`."""
    if now < send_at:
        return "wait"
    return "send" if now - send_at <= LATE_GRACE else "ask"


def local_time(moment: int, zone: ZoneInfo) -> str:
    """`2026-12-07 09:00` as owners typed it, in the business's zone."""
    return datetime.fromtimestamp(moment, zone).strftime("%Y-%m-%d %H:%M")
