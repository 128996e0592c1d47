"""What the stand-in records: calls, the bot's messages, callback answers, stored files."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, NamedTuple

JSON = dict[str, Any]
Files = dict[str, tuple[str, bytes]]
Buttons = list[list[tuple[str, str | None]]]

# Values a copy can share: immutable, and all a JSON leaf can be.
_ATOMIC = frozenset({str, int, float, bool, type(None), bytes})


@dataclass
class Call:
    """One API call as the fake saw it (params decoded when they were valid)."""

    method: str
    params: JSON
    files: Files
    status: int
    response: JSON
    at: float = 0.0  # when the request arrived (the fake's clock), for rolling-window checks


@dataclass
class Sent:
    """A bot message as the user sees it; edits update it in place, deletes hide it."""

    chat_id: int
    method: str
    message_id: int
    text: str
    html: str
    buttons: Buttons
    document: str | None
    document_bytes: bytes | None
    params: JSON
    message: JSON = field(repr=False)
    edits: int = 0
    deleted: bool = False


class AnsweredCallback(NamedTuple):
    """An answerCallbackQuery call."""

    callback_query_id: str
    text: str | None
    show_alert: bool


@dataclass
class StoredFile:
    """A file the fake holds: uploaded by the bot or sent by a user."""

    file_id: str
    unique_id: str
    name: str
    data: bytes
    mime: str
    path: str


def visible_text(msg: JSON) -> str:
    """The text, else the caption, of a Message dict."""
    return str(msg.get("text", msg.get("caption", "")))


def buttons_of(markup: Any) -> Buttons:
    """The (label, callback_data or url) rows of a reply_markup."""
    if not isinstance(markup, dict):
        return []
    rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
    out: Buttons = []
    for row in rows:
        out.append(
            [
                (str(b.get("text", "")), b.get("callback_data") or b.get("url"))
                if isinstance(b, dict)
                else (str(b), None)
                for b in row
            ]
        )
    return out


def copy_json(value: Any) -> Any:
    """A deep copy of JSON-like data (dicts, lists, scalars), several times faster than deepcopy."""
    # The stand-in copies what it stores and answers so no caller can change it afterwards;
    # that data is plain JSON, so copy.deepcopy's memo and dispatch are only needed for the rest.
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMIC else copy_json(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMIC else copy_json(v) for v in value]
    if kind in _ATOMIC:
        return value
    if kind is tuple:
        return tuple(copy_json(v) for v in value)
    return copy.deepcopy(value)
