"""What the stand-in checks without the spec: parameters decoded from their string form, and
the limits Telegram states only in prose (text and caption length, callback data, keyboards)."""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Mapping
from typing import Any

from bot.preview.standin.records import JSON, copy_json
from bot.telegram.html import FormatError, render

_INT = re.compile(r"-?\d+")

# Only these well-known parameters are decoded from their string form.
_LOOSE_JSON = {
    "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
    "media", "reply_parameters", "link_preview_options", "message_ids", "results", "options",
}  # fmt: skip
_LOOSE_INT = {"offset", "limit", "timeout", "duration", "width", "height", "cache_time"}
_LOOSE_BOOL = ("disable_", "protect_", "show_", "drop_", "is_", "allow_", "has_")


def loose_decode(params: Mapping[str, Any]) -> dict[str, Any]:
    """Decode the string forms of well-known parameters (form-encoded calls), drop nulls."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if value is None:
            continue
        if isinstance(value, str) and name in _LOOSE_JSON:
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        elif isinstance(value, str) and (name.endswith("_id") or name in _LOOSE_INT):
            value = int(value) if _INT.fullmatch(value) else value
        elif isinstance(value, str) and name.startswith(_LOOSE_BOOL):
            value = value.lower() in ("true", "1") if value.lower() in _BOOLS else value
        elif not isinstance(value, str):
            value = copy_json(value)  # recorded in calls: the caller's dict may change later
        out[name] = value
    return out


_BOOLS = ("true", "false", "1", "0")


_BUTTON_META = frozenset({"text", "icon_custom_emoji_id", "style"})


def check_limits(method: str, params: Mapping[str, Any]) -> str | None:
    """The first limit a call breaks that the spec states only in prose (Telegram's words)."""
    try:
        if method in ("sendMessage", "editMessageText") and isinstance(params.get("text"), str):
            text, _ = render_text(params["text"], params.get("parse_mode"))
            if not text:
                return "message text is empty"
            if len(text) > 4096:
                return "message is too long"
        media = params.get("media")
        items = [params, *(media if isinstance(media, list) else [])]  # sendMediaGroup
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("caption"), str):
                caption, _ = render_text(item["caption"], item.get("parse_mode"))
                if len(caption) > 1024:
                    return "message caption is too long"
    except FormatError as exc:
        return str(exc)
    markup = params.get("reply_markup")
    if isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list):
        return _check_inline_keyboard(markup["inline_keyboard"])
    return None


def _check_inline_keyboard(rows: list[Any]) -> str | None:
    for row in rows:
        for button in row if isinstance(row, list) else []:
            if not isinstance(button, dict):
                continue
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode("utf-8")) <= 64:
                return "BUTTON_DATA_INVALID"
            # "Exactly one of the fields other than text, icon_custom_emoji_id and style".
            actions = set(button) - _BUTTON_META
            if not actions:
                return "text buttons are unallowed in the inline keyboard"
            if len(actions) > 1:
                return f"can't parse inline keyboard button: more than one of {sorted(actions)}"
    return None


def render_text(text: str, parse_mode: Any) -> tuple[str, list[JSON]]:
    """``render``, remembered for recent texts: a send's limits and its message render the same
    text in the same call; the entities are the caller's own copy."""
    if parse_mode is not None and not isinstance(parse_mode, str):
        return render(text, parse_mode)  # not hashable, maybe: let render refuse it
    plain, entities = _rendered(text, parse_mode)
    return plain, copy_json(entities)


@functools.lru_cache(maxsize=256)
def _rendered(text: str, parse_mode: str | None) -> tuple[str, list[JSON]]:
    return render(text, parse_mode)
