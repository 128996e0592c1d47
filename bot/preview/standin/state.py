"""The stand-in's state and the helpers its updates and methods share (chats, messages, files)."""

from __future__ import annotations

import itertools
import mimetypes
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypedDict

from bot.preview.standin.errors import ApiError, bad
from bot.preview.standin.params import render_text
from bot.preview.standin.records import (
    JSON,
    AnsweredCallback,
    Call,
    Sent,
    StoredFile,
    buttons_of,
    copy_json,
    visible_text,
)
from bot.telegram.html import FormatError

# Fields PTB needs to parse each media object (its required constructor arguments).
_MEDIA_EXTRA: dict[str, JSON] = {
    "photo": {"width": 800, "height": 600},
    "video": {"width": 640, "height": 360, "duration": 1},
    "animation": {"width": 320, "height": 240, "duration": 1},
    "audio": {"duration": 1},
    "voice": {"duration": 1},
    "video_note": {"length": 240, "duration": 1},
    "sticker": {"width": 512, "height": 512, "is_animated": False, "is_video": False},
}
_NAMED_FILES = ("document", "audio", "video", "animation")
_NOT_BY_DEFAULT = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class Identity(TypedDict, total=False):
    """Who the stand-in bot is, and its clock (every field has a default)."""

    bot_id: int
    username: str
    clock: Callable[[], float]


class StandInState:
    """The stand-in's state (chats, messages, files, queues) and the helpers built on it."""

    def __init__(
        self,
        *,
        bot_id: int = 5000000001,
        username: str = "aimant_test_bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Start empty: no users, chats, messages or updates."""
        self.bot_id, self.username, self.clock = bot_id, username, clock
        self.first_name = "Aimant"
        self.calls: list[Call] = []
        self.violations: list[str] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.reactions: dict[tuple[int | str, int], list[str]] = {}  # (chat, message) -> emoji
        self.next_update_id = 1
        self.confirmed_offset = 0
        self.webhook_url = ""
        # RLock: builders call each other; Condition: getUpdates long-polls on it.
        self._cond = threading.Condition(threading.RLock())
        self._users: dict[int, JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._pending: list[JSON] = []
        self._allowed: frozenset[str] | None = None
        self._subscribers: list[Callable[[], None]] = []
        self._poll_seq = 0
        self._wake_seq = 0
        self._msg_ids: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], Sent] = {}
        self._incoming: dict[tuple[int | str, int], JSON] = {}
        self._transcript: dict[int | str, list[Sent]] = {}
        self._sent_in: dict[int | str, list[Sent]] = {}  # _messages by chat (kept on reset)
        self._files: dict[str, StoredFile] = {}
        self._queries: set[str] = set()
        self._call_at = 0.0  # the arrival time of the call being handled
        self._ids = itertools.count(1)

    # ----- chats and gates ---------------------------------------------------------------------

    def _bot_user(self) -> JSON:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def _resolve_chat(self, chat_id: Any) -> JSON:
        if chat_id is None or chat_id == "":
            raise bad("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if isinstance(chat_id, str):
            # Telegram resolves @username only for public groups, channels and bots.
            for known in self._chats.values():
                if known.get("type") != "private" and f"@{known.get('username')}" == chat_id:
                    return known
        chat = self._chats.get(chat_id)
        if chat is None:
            raise bad("chat not found")
        return chat

    def _gate(self, chat_id: int | str, name: str) -> None:
        """Where Telegram refuses a send (blocked, rate limits...): the stand-in refuses none."""

    def _check_thread(self, chat_id: int | str, thread: int) -> None:
        """A send into forum topic `thread`: the stand-in has no forums, so no topic exists."""
        # Not the bot's fault (a topic deleted by hand), as with Telegram's own answer.
        raise ApiError(400, "Bad Request: message thread not found")

    # ----- messages ----------------------------------------------------------------------------

    def _new_message(self, chat: JSON, sender: JSON | None) -> JSON:
        # One counter per chat, shared by the user's and the bot's messages, as in Telegram.
        chat_id = chat["id"]
        self._msg_ids[chat_id] = self._msg_ids.get(chat_id, 0) + 1
        msg: JSON = {"message_id": self._msg_ids[chat_id]}
        if chat.get("type") == "channel":
            msg["sender_chat"] = dict(chat)
        elif sender is not None:
            msg["from"] = dict(sender)
        msg.update(date=int(self.clock()), chat=dict(chat))
        return msg

    def _put_thread(self, msg: JSON, d: JSON) -> None:
        """A message sent into a forum topic carries its thread (the topic must exist)."""
        thread = d.get("message_thread_id")
        if thread is None:
            return
        self._check_thread(msg["chat"]["id"], int(thread))
        msg.update(message_thread_id=int(thread), is_topic_message=True)

    def _put_text(self, msg: JSON, d: JSON, key: str) -> None:
        entities_key = "entities" if key == "text" else "caption_entities"
        msg.pop(key, None)
        msg.pop(entities_key, None)
        if not isinstance(d.get(key), str):
            return
        try:
            plain, entities = render_text(d[key], d.get("parse_mode"))
        except FormatError as exc:
            raise bad(str(exc)) from None
        if not d.get("parse_mode"):
            entities = list(d.get(entities_key) or [])
        if plain or key == "text":
            msg[key] = plain
        if entities:
            msg[entities_key] = entities

    @staticmethod
    def _put_markup(msg: JSON, d: JSON) -> None:
        # Only inline keyboards belong to the message; reply keyboards live in the client.
        msg.pop("reply_markup", None)
        markup = d.get("reply_markup")
        if isinstance(markup, dict) and markup.get("inline_keyboard"):
            msg["reply_markup"] = copy_json(markup)  # d is recorded in calls as it came

    def _record(
        self, name: str, msg: JSON, d: JSON, html: str, file: tuple[str, bytes] | None = None
    ) -> Sent:
        """Keep a message the bot sent; msg itself is kept, so it is not changed afterwards
        (respond copies the result it answers with)."""
        chat_id = msg["chat"]["id"]
        sent = Sent(
            chat_id=chat_id,
            method=name,
            message_id=msg["message_id"],
            text=visible_text(msg),
            html=html,
            buttons=buttons_of(d.get("reply_markup")),
            document=file[0] if file else None,
            document_bytes=file[1] if file else None,
            params=dict(d),
            message=msg,
        )
        self._messages[(chat_id, sent.message_id)] = sent
        self._transcript.setdefault(chat_id, []).append(sent)
        self._sent_in.setdefault(chat_id, []).append(sent)
        return sent

    # ----- files -------------------------------------------------------------------------------

    def _store(self, name: str, data: bytes, kind: str) -> StoredFile:
        n = next(self._ids)
        suffix = Path(name).suffix
        stored = StoredFile(
            file_id=f"BQACAgQAAxkBAAI{n:06d}fake{kind}",
            unique_id=f"AgAD{n:06d}",
            name=name,
            data=data,
            mime=mimetypes.guess_type(name, strict=False)[0] or "application/octet-stream",
            path=f"{kind}s/file_{n}{suffix}",
        )
        self._files[stored.file_id] = stored
        return stored

    @staticmethod
    def _media_json(kind: str, stored: StoredFile) -> Any:
        media: JSON = {
            "file_id": stored.file_id,
            "file_unique_id": stored.unique_id,
            "file_size": len(stored.data),
            **_MEDIA_EXTRA.get(kind, {}),
        }
        if kind in _NAMED_FILES:
            media.update(file_name=stored.name, mime_type=stored.mime)
        return [media] if kind == "photo" else media

    # ----- users and the update queue ----------------------------------------------------------

    def _touch_user(
        self,
        user_id: int,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        user = self._users.get(user_id) or {
            "id": user_id,
            "is_bot": False,
            "first_name": "Ada",
            "language_code": "en",
        }
        given = {
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        user.update({k: v for k, v in given.items() if v is not None})
        self._users[user_id] = user
        names: JSON = {k: user[k] for k in ("first_name", "last_name", "username") if k in user}
        self._chats[user_id] = {"id": user_id, "type": "private", **names}
        return dict(user)

    def _deliverable(self, limit: int) -> list[JSON]:
        allowed = self._allowed
        out = []
        for update in self._pending:
            kind = next((k for k in update if k != "update_id"), "")
            if (kind in allowed) if allowed is not None else (kind not in _NOT_BY_DEFAULT):
                out.append(update)
        return out[:limit]
