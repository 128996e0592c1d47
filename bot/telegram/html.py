"""Telegram's parse_mode=HTML, parsed strictly: plain text plus MessageEntity dicts, or an error."""

from __future__ import annotations

import re
from html import escape
from typing import Any

# Tag -> entity type; span/a/tg-emoji/code/pre/blockquote get their details from attributes.
_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY = re.compile(r"&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_START = re.compile(
    r"<([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[^\s=>/]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s\"'>]+))?)*)\s*>"
)
_SPECIAL = re.compile(r"[<>&]")
_END = re.compile(r"</([a-zA-Z][a-zA-Z0-9-]*)\s*>")
_ATTR = re.compile(r"([^\s=>/]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s\"'>]+)))?")


class FormatError(ValueError):
    """A text Telegram refuses to format; str(error) is the description after "Bad Request: "."""


class EntityParseError(FormatError):
    """The text is not valid Telegram HTML; str(error) is Telegram's wording."""


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit of MessageEntity offsets."""
    return len(text.encode("utf-16-le")) // 2


def unescape(text: str) -> str:
    """Decode the entities Telegram accepts (used for attribute values)."""

    def repl(m: re.Match[str]) -> str:
        if m.group(1):
            return _NAMED[m.group(1)]
        return chr(int(m.group(2)) if m.group(2) else int(m.group(3), 16))

    return _ENTITY.sub(repl, text)


def _byte_offset(text: str, index: int) -> int:
    # Telegram reports positions as UTF-8 byte offsets.
    return len(text[:index].encode("utf-8"))


def _attrs(raw: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        value = next((g for g in m.groups()[1:] if g is not None), "")
        found[m.group(1).lower()] = unescape(value)
    return found


def _entity(tag: str, attrs: dict[str, str], at: int) -> dict[str, Any]:
    kind = _SIMPLE[tag]
    entity: dict[str, Any] = {"type": kind, "offset": at}
    if tag == "span" and attrs.get("class") != "tg-spoiler":
        raise EntityParseError('Tag "span" must have class "tg-spoiler"')
    if tag == "a":
        if not attrs.get("href"):
            raise EntityParseError('Tag "a" must have attribute "href"')
        entity["url"] = attrs["href"]
    if tag == "tg-emoji":
        if not attrs.get("emoji-id"):
            raise EntityParseError('Tag "tg-emoji" must have attribute "emoji-id"')
        entity["custom_emoji_id"] = attrs["emoji-id"]
    if tag == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    if tag == "code" and attrs.get("class", "").startswith("language-"):
        entity["language"] = attrs["class"][len("language-") :]
    return entity


def parse_html(text: str) -> tuple[str, list[dict[str, Any]]]:
    """Return (plain text, entities) for an HTML-formatted text; raise EntityParseError."""
    out: list[str] = []
    pos16 = 0  # current UTF-16 offset in the plain text
    stack: list[tuple[str, dict[str, Any]]] = []
    entities: list[dict[str, Any]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "<":
            end = _END.match(text, i)
            if end:
                name = end.group(1).lower()
                if not stack:
                    raise EntityParseError(
                        f"Unexpected end tag at byte offset {_byte_offset(text, i)}"
                    )
                tag, entity = stack.pop()
                if tag != name:
                    raise EntityParseError(
                        f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                        f'expected "</{tag}>", found "</{name}>"'
                    )
                _close(entity, pos16, stack, entities)
                i = end.end()
                continue
            start = _START.match(text, i)
            if not start:
                where = _byte_offset(text, i)
                if ">" not in text[i:]:
                    raise EntityParseError(f"Unclosed start tag at byte offset {where}")
                raise EntityParseError(f'Unsupported start tag "" at byte offset {where}')
            name = start.group(1).lower()
            if name not in _SIMPLE:
                raise EntityParseError(
                    f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, i)}'
                )
            stack.append((name, _entity(name, _attrs(start.group(2)), pos16)))
            i = start.end()
            continue
        if ch == "&":
            m = _ENTITY.match(text, i)
            if not m:
                raise EntityParseError(f'Unescaped "&" at byte offset {_byte_offset(text, i)}')
            ch = unescape(m.group(0))
            i = m.end()
        elif ch == ">":
            raise EntityParseError(f'Unescaped ">" at byte offset {_byte_offset(text, i)}')
        else:  # a run of plain characters up to the next markup character, in one step
            special = _SPECIAL.search(text, i)
            stop = special.start() if special else len(text)
            ch, i = text[i:stop], stop
        out.append(ch)
        pos16 += utf16_len(ch)
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _close(
    entity: dict[str, Any],
    pos16: int,
    stack: list[tuple[str, dict[str, Any]]],
    entities: list[dict[str, Any]],
) -> None:
    entity["length"] = pos16 - entity["offset"]
    if entity["type"] == "code":
        language = entity.pop("language", None)
        if language and stack and stack[-1][0] == "pre":
            # <pre><code class="language-x"> is one pre entity with a language, as in Telegram.
            stack[-1][1]["language"] = language
            return
    if entity["length"] > 0:
        entities.append(entity)


def render(text: str, parse_mode: str | None) -> tuple[str, list[dict[str, Any]]]:
    """Plain text and entities as Telegram stores them: parsed per parse_mode, then trimmed."""
    mode = str(parse_mode or "").lower()
    if mode == "html":
        try:
            plain, entities = parse_html(text)
        except EntityParseError as exc:
            raise FormatError(f"can't parse entities: {exc}") from None
    elif mode in ("", "markdown", "markdownv2"):
        plain, entities = text, []  # Markdown is neither parsed nor validated by this fake
    else:
        raise FormatError("unsupported parse_mode")
    return _strip(plain, entities)


def _strip(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    # Telegram trims surrounding whitespace and shifts/clips the entities accordingly.
    stripped = text.strip()
    shift = utf16_len(text[: len(text) - len(text.lstrip())])
    total = utf16_len(stripped)
    out = []
    for entity in entities:
        start = max(entity["offset"] - shift, 0)
        end = min(entity["offset"] + entity["length"] - shift, total)
        if end > start:
            out.append({**entity, "offset": start, "length": end - start})
    return stripped, out


def html_error(text: str) -> str | None:
    """Why Telegram would refuse this HTML text ("can't parse entities"), or None if it is fine."""
    try:
        parse_html(text)
    except FormatError as exc:
        return str(exc)
    return None


MAX_ECHO = 200  # never show more than this much of one thing a person typed


def clip(text: str, limit: int = MAX_ECHO) -> str:
    """What a person typed (or their profile holds), made safe to show in an HTML message:
    shortened to `limit` characters (with "…") and escaped."""
    text = text if len(text) <= limit else text[: limit - 1] + "…"
    return escape(text, quote=False)


def plain_text(text: str) -> str:
    """The text as the user sees it (tags removed, entities decoded)."""
    return parse_html(text)[0]


def visible_length(text: str) -> int:
    """Length counted the way Telegram counts its 4096/1024 limits (after entity parsing)."""
    return len(plain_text(text))
