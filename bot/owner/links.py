"""Shareable deep links for /links: a source made from the owner's words, labelled QR codes."""

from __future__ import annotations

import io
import re
import unicodedata
from dataclasses import dataclass
from functools import cache

import segno
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont
from telegram.constants import MessageLimit

from bot.funnel.rules import MAGNET_SEPARATOR, is_source

PAYLOAD_MAX = MessageLimit.DEEP_LINK_LENGTH  # Telegram's limit for a /start payload (64)
QUIET_ZONE = 4  # modules of white around the code, as the QR standard asks
MODULE = 10  # pixels per module: sharp when printed on a flyer
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@dataclass(frozen=True)
class SourceName:
    """What /links makes of the owner's words: the source, or the text key saying why not."""

    source: str
    problem: str | None  # links_usage, links_source_magnet, links_source_long


def slug(name: str) -> str:
    """`Salon du Mariage` → `salon-du-mariage`: lower-case, accents stripped, A-Za-z0-9_- only."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    dashed = re.sub(r"[^a-z0-9_]+", "-", plain)
    # `__` separates the source from the magnet, and empty parts are not a name.
    return re.sub(r"[-_]{2,}", "-", dashed).strip("-_")


def source_name(name: str, magnet_ids: set[str]) -> SourceName:
    """A valid source from the whole name, or why there is none (the link must fit 64 chars)."""
    source = slug(name)
    if not is_source(source):
        return SourceName(source, "links_usage")
    if source in magnet_ids:  # the link would open that magnet instead of counting a source
        return SourceName(source, "links_source_magnet")
    if len(source) > source_max(magnet_ids):
        return SourceName(source, "links_source_long")
    return SourceName(source, None)


def source_max(magnet_ids: set[str]) -> int:
    """The longest source whose `<source>__<magnet>` payload fits for every magnet."""
    longest = max((len(m) for m in magnet_ids), default=0)
    return PAYLOAD_MAX - len(MAGNET_SEPARATOR) - longest


def qr_filename(source: str | None, magnet_id: str | None) -> str:
    """`qr-flyer-what-to-wear.png`: saved files stay apart and say what they are."""
    return f"qr-{source or 'direct'}-{magnet_id or 'menu'}.png"


@cache
def _font(size: int, bold: bool = False) -> Font:
    """DejaVu Sans, shipped with matplotlib (accents, Greek, Cyrillic), at `size` pixels."""
    weight = "bold" if bold else "normal"
    path = font_manager.findfont(font_manager.FontProperties(family="DejaVu Sans", weight=weight))
    return ImageFont.truetype(path, size)


def _wrap(draw: ImageDraw.ImageDraw, text: str, font: Font, width: int) -> list[str]:
    """`text` in lines that fit `width` pixels (a word longer than that gets its own line)."""
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and draw.textlength(candidate, font=font) <= width:
            lines[-1] = candidate
        else:
            lines.append(word)
    return lines or [""]


def qr_card(url: str, title: str, label: str) -> bytes:
    """A PNG: the QR code of `url` with its quiet zone, then `title` and `label` under it."""
    code = io.BytesIO()
    segno.make(url, error="m").save(code, kind="png", scale=MODULE, border=QUIET_ZONE)
    qr = Image.open(io.BytesIO(code.getvalue())).convert("RGB")
    bold, small = _font(26, bold=True), _font(20)
    width, margin = qr.width, QUIET_ZONE * MODULE
    measure = ImageDraw.Draw(qr)
    rows = [(line, bold) for line in _wrap(measure, title, bold, width - 2 * margin)[:3]]
    rows += [(line, small) for line in _wrap(measure, label, small, width - 2 * margin)[:2]]
    height = sum(_line_height(font) for _, font in rows) + margin // 2
    card = Image.new("RGB", (width, qr.height + height), "white")
    card.paste(qr, (0, 0))  # the caption starts below the quiet zone, which stays white
    draw, y = ImageDraw.Draw(card), qr.height
    for line, font in rows:
        draw.text((width // 2, y), line, fill=(20, 20, 20), font=font, anchor="ma")
        y += _line_height(font)
    out = io.BytesIO()
    card.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _line_height(font: Font) -> int:
    """Pixels from one caption line to the next."""
    return int(getattr(font, "size", 20) * 1.35)
