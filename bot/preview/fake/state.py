"""The fake's state and the helpers its updates and methods share (chats, messages, files)."""

from __future__ import annotations

import bisect
import copy
import itertools
import math
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bot.preview.fake.errors import MIGRATED, ApiError, Fault, bad
from bot.preview.fake.records import (
    JSON,
    AnsweredCallback,
    Arrival,
    Call,
    Sent,
    StoredFile,
    buttons_of,
    visible_text,
)
from bot.preview.fake.spec import DEFAULT_SPEC_PATH, Spec, load_spec
from bot.telegram.html import FormatError, render

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


class Window:
    """Messages accepted within the last ``span`` seconds, at most ``limit``: Telegram counts
    rolling windows, so nothing saved up while idle allows a burst later."""

    def __init__(self, limit: int, span: float) -> None:
        self.limit, self.span = limit, span
        self.times: list[float] = []  # sorted arrival times still inside the window

    def wait(self, now: float) -> float:
        """0 when one more message fits at ``now``, else the seconds until one does."""
        del self.times[: bisect.bisect_right(self.times, now - self.span)]
        if len(self.times) < self.limit:
            return 0.0
        return self.times[len(self.times) - self.limit] + self.span - now

    def add(self, now: float) -> None:
        """Count a message accepted at ``now`` (arrivals may be handled slightly out of order)."""
        bisect.insort(self.times, now)


class FakeState:
    """The fake's state (chats, messages, files, queues) and the helpers built on it."""

    def __init__(
        self,
        spec_path: Path | None = DEFAULT_SPEC_PATH,
        *,
        bot_id: int = 5000000001,
        username: str = "aimant_test_bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Start empty: no users, chats, messages or updates; the spec loaded unless None."""
        self.spec: Spec | None = load_spec(spec_path) if spec_path is not None else None
        self.bot_id, self.username, self.clock = bot_id, username, clock
        self.first_name = "Aimant"
        self.latency = 0.0  # seconds, applied by the adapters
        # Rolling-window limits (None = unlimited); strict() sets Telegram's.
        self.bulk_rate: float | None = None  # sends in any rolling second, across chats
        self.per_chat_rate: float | None = None  # sends per second into one chat, over a minute...
        self.per_chat_burst = 3.0  # ...with at most this many in any second (short bursts)
        self.group_per_minute: int | None = None  # sends in any rolling minute into one group
        self.paid_rate: float | None = None  # paid broadcasts per second; None: they count as bulk
        self.calls: list[Call] = []
        self.arrivals: list[Arrival] = []  # every request that reached the fake, held ones too
        self.violations: list[str] = []
        self.answered_callbacks: list[AnsweredCallback] = []
        self.reactions: dict[tuple[int | str, int], list[str]] = {}  # (chat, message) -> emoji
        self.topics: dict[int | str, dict[int, str]] = {}  # forum chat -> thread id -> name
        self.no_topic_rights: set[int | str] = set()  # forums where the bot may not manage topics
        self._kicked: set[int | str] = set()  # groups the bot was removed from
        self._migrated: dict[int | str, int] = {}  # group -> the supergroup it was upgraded to
        self.next_update_id = 1
        self.confirmed_offset = 0
        self.webhook_url = ""
        # RLock: builders call each other; Condition: getUpdates long-polls on it.
        self._cond = threading.Condition(threading.RLock())
        self._users: dict[int, JSON] = {}
        self._chats: dict[int | str, JSON] = {}
        self._blocked: set[int] = set()
        self._deactivated: set[int] = set()
        self._faults: list[Fault] = []
        self._pending: list[JSON] = []
        self._allowed: frozenset[str] | None = None
        self._subscribers: list[Callable[[], None]] = []
        self._poll_seq = 0
        self._wake_seq = 0
        self._msg_ids: dict[int | str, int] = {}
        self._held: set[str] = set()  # methods whose HTTP calls wait in the server (kill tests)
        self._holding = 0
        self._drop_held = False
        self._messages: dict[tuple[int | str, int], Sent] = {}
        self._incoming: dict[tuple[int | str, int], JSON] = {}
        self._transcript: dict[int | str, list[Sent]] = {}
        self._files: dict[str, StoredFile] = {}
        self._queries: set[str] = set()
        self._windows: dict[tuple[str, int | str], Window] = {}
        self._banned: dict[tuple[str, int | str], float] = {}  # key -> end of its retry_after
        self._call_at = 0.0  # the arrival time of the call being handled
        self._call_paid = False  # whether it has allow_paid_broadcast
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

    def strict(self, bulk_rate: float = 30) -> None:
        """Telegram's limits: ``bulk_rate`` in any rolling second, ~1/s per chat with bursts of
        3, 20 a minute per group, 1000/s paid broadcasts."""
        with self._cond:
            self.bulk_rate, self.per_chat_rate, self.per_chat_burst = bulk_rate, 1.0, 3.0
            self.group_per_minute, self.paid_rate = 20, 1000.0

    def arrive(self, method: str, params: Mapping[str, Any]) -> float:
        """Record a request reaching the fake (before any latency); returns its arrival time."""
        with self._cond:
            at = self.clock()
            chat_id, text = params.get("chat_id"), params.get("text")
            self.arrivals.append(Arrival(at, method, _int_or_same(chat_id), text))
            return at

    def arrived(self, method: str, text: str | None = None) -> list[Arrival]:
        """Requests of `method` (with this text, if given) that reached the fake, in order."""
        with self._cond:
            return [
                a
                for a in self.arrivals
                if a.method.lower() == method.lower() and (text is None or a.text == text)
            ]

    def _gate(self, chat_id: int | str, name: str) -> None:
        self._not_migrated(chat_id)
        if chat_id in self._deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        if chat_id in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if chat_id in self._kicked:
            raise ApiError(403, "Forbidden: bot was kicked from the supergroup chat")
        if name == "sendChatAction":
            return
        now = self._call_at
        limits = self._limits(chat_id)
        over = {key: self._banned.get(key, 0.0) - now for key, _, _ in limits}
        for key, limit, span in limits:
            window = self._windows.get(key)
            if window is None or (window.limit, window.span) != (limit, span):
                window = self._windows[key] = Window(limit, span)
            over[key] = max(over[key], window.wait(now))
        wait = max(over.values(), default=0.0)
        if wait > 0:
            # A request before retry_after has elapsed gets another 429 (the ban is not lifted).
            retry = max(1, math.ceil(wait))
            for key, late in over.items():
                if late > 0:
                    self._banned[key] = max(self._banned.get(key, 0.0), now + retry)
            raise ApiError(429, f"Too Many Requests: retry after {retry}", retry_after=retry)
        for key, _, _ in limits:
            self._windows[key].add(now)

    def _not_migrated(self, chat_id: int | str) -> None:
        """Writing into a group upgraded to a supergroup: 400 naming the new id (not the bot's
        fault: Telegram's ResponseParameters.migrate_to_chat_id tells where it went)."""
        if chat_id in self._migrated:
            raise ApiError(400, MIGRATED, migrate_to_chat_id=self._migrated[chat_id])

    def _limits(self, chat_id: int | str) -> list[tuple[tuple[str, int | str], int, float]]:
        """(key, limit, span) of each rolling window this send counts in."""
        limits: list[tuple[tuple[str, int | str], int, float]] = []
        if self._call_paid and self.paid_rate:
            limits.append((("paid", ""), int(self.paid_rate), 1.0))
        elif self.bulk_rate:
            limits.append((("bulk", ""), int(self.bulk_rate), 1.0))
        group = isinstance(chat_id, str) or chat_id < 0
        if group and self.group_per_minute:
            limits.append((("group", chat_id), self.group_per_minute, 60.0))
        elif not group and self.per_chat_rate:
            # About per_chat_rate a second over a minute, a few at once tolerated.
            limits.append((("chat", chat_id), max(1, int(self.per_chat_burst)), 1.0))
            limits.append((("chat-minute", chat_id), max(1, int(self.per_chat_rate * 60)), 60.0))
        return limits

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
        chat_id = msg["chat"]["id"]
        if int(thread) not in self.topics.get(chat_id, {}):  # deleted by hand: not the bot's fault
            raise ApiError(400, "Bad Request: message thread not found")
        msg.update(message_thread_id=int(thread), is_topic_message=True)

    def _put_text(self, msg: JSON, d: JSON, key: str) -> None:
        entities_key = "entities" if key == "text" else "caption_entities"
        msg.pop(key, None)
        msg.pop(entities_key, None)
        if not isinstance(d.get(key), str):
            return
        try:
            plain, entities = render(d[key], d.get("parse_mode"))
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
            msg["reply_markup"] = copy.deepcopy(markup)

    def _record(
        self, name: str, msg: JSON, d: JSON, html: str, file: tuple[str, bytes] | None = None
    ) -> Sent:
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
            message=copy.deepcopy(msg),
        )
        self._messages[(chat_id, sent.message_id)] = sent
        self._transcript.setdefault(chat_id, []).append(sent)
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


def _int_or_same(value: Any) -> Any:
    """A chat id as an int when it is one (HTTP form fields arrive as strings)."""
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return value
